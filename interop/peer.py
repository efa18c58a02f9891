"""Python `websockets` peer for scripts/interop.
    python peer.py client URL SCENARIO   -> one JSON line: what this client saw
    python peer.py server PORT           -> "listening PORT", then one JSON line per connection
"""
import asyncio, json, sys
import websockets


def out(o):
    print(json.dumps(o), flush=True)


def deflate(ws):
    """Whether permessage-deflate was negotiated (new and legacy websockets APIs)."""
    extensions = getattr(getattr(ws, "protocol", None), "extensions", None)
    if extensions is None:
        extensions = getattr(ws, "extensions", [])
    return any(e.name == "permessage-deflate" for e in extensions)


def describe(message):
    return f"binary:{len(message)}" if isinstance(message, bytes) else message


async def client(url, scenario):
    received = []
    async with websockets.connect(url, compression="deflate", max_size=None, ping_interval=None) as ws:
        if scenario == "echo":
            await ws.send("héllo")
            await ws.send(bytes([1, 2, 3]))
            await ws.send(["frag", "mented"])
            await ws.send(b"\x5a" * (16 << 20))
            pong = await ws.ping(b"p")
            for _ in range(4):
                received.append(describe(await ws.recv()))
            await pong
            received.append("pong:p")
            await ws.close(1000, "client bye")
        elif scenario == "terminate":
            await ws.send("x")
        elif scenario == "client-terminate":
            await ws.send("a")
            await ws.send("b")
            await asyncio.sleep(0.1)
            ws.transport.abort()
        elif scenario == "vanish":
            ws.transport.pause_reading()
            await asyncio.sleep(4)
            out({"scenario": scenario, "received": received})
            return
        elif scenario == "both-close":
            await ws.close(4002, "client too")
        try:
            async for message in ws:
                received.append(describe(message))
        except websockets.ConnectionClosed:
            pass
        await ws.wait_closed()
    out({"scenario": scenario, "received": received, "deflate": deflate(ws),
         "code": ws.close_code, "reason": ws.close_reason or ""})


async def server(port):
    async def handle(ws):
        path = ws.request.path
        received = []
        try:
            if path == "/server-close":
                await ws.send("last words")
                await ws.close(4000, "server bye")
            elif path == "/server-terminate":
                await asyncio.sleep(0.1)
                ws.transport.abort()
            async for message in ws:
                received.append(describe(message))
                if path == "/echo":
                    await ws.send(message)
        except websockets.ConnectionClosed:
            pass
        await ws.wait_closed()
        out({"scenario": path, "received": received, "deflate": deflate(ws),
             "code": ws.close_code, "reason": ws.close_reason or ""})

    async with websockets.serve(handle, "127.0.0.1", port, compression="deflate", max_size=None, ping_interval=None) as srv:
        port = srv.sockets[0].getsockname()[1]
        print(f"listening {port}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    mode, target = sys.argv[1], sys.argv[2]
    if mode == "client":
        asyncio.run(client(target, sys.argv[3]))
    else:
        asyncio.run(server(int(target)))
