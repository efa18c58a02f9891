#!/usr/bin/env python3
# Copy of the team file shared/conformance/kosoku-fix.py, kept here so CI on a clean clone has it.
"""Fixes a Python 2->3 porting bug in kosoku 0.1.0's permessage-deflate cases (Autobahn 12.* / 13.*).

On some paths (seen in 13.2.1-3, 13.5.1-3, 13.6.1-3, 13.7.1-3, the client_no_context_takeover offers with
small messages) the runner hands a text message to the case's onMessage as `str` instead of `bytes`, and the
case then fails with "Strings must be encoded before hashing" before judging the server at all. This adds
the missing encode. Run it with the Python of the virtualenv that has kosoku installed:
    VENV/bin/python kosoku-fix.py
It is idempotent and prints what it did."""
import importlib.util, pathlib, sys

spec = importlib.util.find_spec("kosoku")
if spec is None or not spec.submodule_search_locations:
    sys.exit("kosoku is not installed in this Python")
case = pathlib.Path(list(spec.submodule_search_locations)[0]) / "cases" / "case12_x_x.py"
src = case.read_text()
marker = "def onMessage(self, msg, binary):\n"
fix = '   if isinstance(msg, str):\n      msg = msg.encode("utf-8")\n'
if marker + fix in src:
    print(f"already fixed: {case}")
elif marker in src:
    case.write_text(src.replace(marker, marker + fix, 1))
    print(f"fixed: {case}")
else:
    sys.exit(f"unexpected kosoku version: no onMessage in {case}")
