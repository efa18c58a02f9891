#!/usr/bin/env python3
# Derived from the team file shared/conformance/kosoku-fix.py, kept here so CI on a clean clone has
# it; this version also decodes binary payloads correctly (see below).
"""Fixes a Python 2->3 porting bug in kosoku 0.1.0's permessage-deflate cases (Autobahn 12.* / 13.*).

On some paths (uncompressed messages on a connection that negotiated permessage-deflate: a server that
echoes small messages without compressing them, and the client_no_context_takeover offers of 13.2,
13.5, 13.6, 13.7) the runner hands the message to the case's onMessage as `str` instead of `bytes`,
and the case fails with "Strings must be encoded before hashing" before judging the peer at all. The
runner builds that `str` from a binary payload byte for byte (latin-1) and from a text payload as
decoded UTF-8, so this adds the matching encode: latin-1 for binary, UTF-8 for text. (An earlier
version encoded both as UTF-8, which turns every byte >= 0x80 of a binary echo into two and fails
12.2.1-3, 12.3.1-3 and 12.5.1-3 with "Echo'ed message length differs".) Run it with the Python of the
virtualenv that has kosoku installed.

Second fix: Autobahn's `PerMessageDeflateOffer.parse` takes every client offer as accepting
`client_no_context_takeover` (RFC 7692 section 7.1.1.2: a server may always ask for it, and clients
must honour it), but kosoku's port sets `acceptNoContextTakeover` only when the offer carries that
parameter. The fuzzing server's accept functions for 13.2, 13.5, 13.6 (and 13.7's fallbacks) then
decline a standard offer such as `permessage-deflate; client_max_window_bits` (what Node `ws` and
browsers send), and those 54 client-role cases end UNIMPLEMENTED without testing anything. This
restores Autobahn's behaviour by treating every offer as accepting it. Run it with the Python of the
virtualenv that has kosoku installed:
    VENV/bin/python kosoku-fix.py
It is idempotent (and upgrades the earlier fix) and prints what it did."""
import importlib.util, pathlib, sys

spec = importlib.util.find_spec("kosoku")
if spec is None or not spec.submodule_search_locations:
    sys.exit("kosoku is not installed in this Python")
case = pathlib.Path(list(spec.submodule_search_locations)[0]) / "cases" / "case12_x_x.py"
src = case.read_text()
marker = "def onMessage(self, msg, binary):\n"
old_fix = '   if isinstance(msg, str):\n      msg = msg.encode("utf-8")\n'
fix = '   if isinstance(msg, str):\n      msg = msg.encode("latin-1" if binary else "utf-8")\n'
if marker + fix in src:
    print(f"already fixed: {case}")
elif marker + old_fix in src:
    case.write_text(src.replace(marker + old_fix, marker + fix, 1))
    print(f"upgraded the fix: {case}")
elif marker in src:
    case.write_text(src.replace(marker, marker + fix, 1))
    print(f"fixed: {case}")
else:
    sys.exit(f"unexpected kosoku version: no onMessage in {case}")

src = case.read_text()
if "offer.acceptNoContextTakeover" in src:
    case.write_text(src.replace("offer.acceptNoContextTakeover", "True"))
    print(f"offers accept client_no_context_takeover, as in Autobahn: {case}")
else:
    print(f"already accepting client_no_context_takeover: {case}")
