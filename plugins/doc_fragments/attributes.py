# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment(object):
    """The attributes of every module of the collection. A module that shows a diff says so (diff_mode support and
    description); a module overrides a description where it says more."""

    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    support: full
    description: Runs in check mode - reads as usual and writes nothing.
  diff_mode:
    support: none
    description: Returns no diff.
"""
