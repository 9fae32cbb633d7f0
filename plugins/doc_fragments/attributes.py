# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

_TEMPLATE = r"""
options: {}
attributes:
  check_mode:
    support: full
    description: %s
  diff_mode:
    support: %s
    description: %s
"""
_WRITES = "Reports what it would change; changes nothing."


class ModuleDocFragment(object):
    """The attributes of this collection's modules; a module overrides a description where it says more."""

    # A module that writes: full check mode, no diff.
    DOCUMENTATION = _TEMPLATE % (_WRITES, "none", "Returns no diff.")

    # A module that writes and shows the change: full check mode and diff.
    DIFF = _TEMPLATE % (_WRITES, "full", "The state before and after.")

    # A module that only reads.
    READ_ONLY = _TEMPLATE % ("Read-only; runs the same in check mode.", "none", "Reads only; there is no change to show.")
