// Node `ws` peer for scripts/interop.
//   node peer.js client URL SCENARIO   -> one JSON line: what this client saw
//   node peer.js server PORT           -> "listening PORT", then one JSON line per connection
const WebSocket = require('ws');
const [mode, target, scenario] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const describe = (data, isBinary) => isBinary ? `binary:${data.length}` : data.toString();
// Whether permessage-deflate was negotiated (`extensions` is a string or an object by version).
const deflate = (ws) => typeof ws.extensions === 'string'
  ? ws.extensions.includes('permessage-deflate')
  : Object.keys(ws.extensions || {}).includes('permessage-deflate');

if (mode === 'client') {
  const ws = new WebSocket(target, { perMessageDeflate: true, maxPayload: 64 << 20 });
  const received = [];
  ws.on('message', (data, isBinary) => {
    received.push(describe(data, isBinary));
    if (scenario === 'echo' && received.length === 5) ws.close(1000, 'client bye');
  });
  ws.on('pong', (data) => {
    received.push(`pong:${data.toString()}`);
    if (scenario === 'echo' && received.length === 5) ws.close(1000, 'client bye');
  });
  ws.on('open', () => {
    if (scenario === 'echo') {
      ws.send('héllo');
      ws.send(Buffer.from([1, 2, 3]));
      ws.send('frag', { fin: false });
      ws.send('mented', { fin: true });
      ws.send(Buffer.alloc(16 << 20, 0x5a));
      ws.ping('p');
    } else if (scenario === 'terminate') {
      ws.send('x');
    } else if (scenario === 'client-terminate') {
      ws.send('a');
      ws.send('b', () => setTimeout(() => ws.terminate(), 100));
    } else if (scenario === 'vanish') {
      ws._socket.pause();
      setTimeout(() => { out({ scenario, received }); process.exit(0); }, 4000);
    } else if (scenario === 'both-close') {
      ws.close(4002, 'client too');
    }
  });
  ws.on('close', (code, reason) => {
    if (scenario !== 'vanish') out({ scenario, received, deflate: deflate(ws), code, reason: reason.toString() });
  });
  ws.on('error', () => {});
} else {
  const wss = new WebSocket.Server({ host: '127.0.0.1', port: Number(target), perMessageDeflate: true, maxPayload: 64 << 20 }, () => {
    process.stdout.write(`listening ${wss.address().port}\n`);
  });
  wss.on('connection', (ws, request) => {
    const path = request.url;
    const received = [];
    ws.on('message', (data, isBinary) => {
      received.push(describe(data, isBinary));
      if (path === '/echo') ws.send(data, { binary: isBinary });
    });
    ws.on('close', (code, reason) => out({ scenario: path, received, deflate: deflate(ws), code, reason: reason.toString() }));
    ws.on('error', () => {});
    if (path === '/server-close') { ws.send('last words'); ws.close(4000, 'server bye'); }
    if (path === '/server-terminate') setTimeout(() => ws.terminate(), 100);
  });
}
