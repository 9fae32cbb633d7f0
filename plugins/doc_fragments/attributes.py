# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment(object):
    """The attributes of this collection's modules; a module overrides a description where it says more."""

    # A module that writes: full check mode, no diff.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    support: full
    description: Reports what it would change; changes nothing.
  diff_mode:
    support: none
    description: Returns no diff.
"""

    # A module that writes and shows the change: full check mode and diff.
    DIFF = r"""
options: {}
attributes:
  check_mode:
    support: full
    description: Reports what it would change; changes nothing.
  diff_mode:
    support: full
    description: The state before and after.
"""

    # A module that only reads.
    READ_ONLY = r"""
options: {}
attributes:
  check_mode:
    support: full
    description: Read-only; runs the same in check mode.
  diff_mode:
    support: none
    description: Reads only; there is no change to show.
"""
