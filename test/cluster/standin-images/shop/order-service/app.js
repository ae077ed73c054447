// STAND-IN for EvgenyKhaliper/nodejs-microservices-demo order-service/app.js (seeds.md section 3), built into an image by
// `npm run images:build` (prebuilt-image code source) for the node suite: the same port, routes and peer calls
// (peers from argv, as `node app.js <peer>...`), Node core modules only. Not upstream's code. Like upstream it
// installs no signal handler (as PID 1 it ignores SIGTERM).
// Port 3002. argv: <payment-service host:port> <db host:port>. GET|POST /orders, proxied to db; a POST also
// POSTs the order's transaction to payment-service.

const SERVICE = 'order-service';
const http = require('http');
const os = require('os');

const ME = `${SERVICE}@${os.hostname()}`;

// A peer call: plain http, JSON bodies, bounded; a failure answers 502 and never crashes the process (upstream's
// did on a refused connection). `via` is the chain of services that served a response (x-served-by), nearest first.
function call(peer, method, path, body) {
  return new Promise((resolve, reject) => {
    const [host, port] = peer.split(':');
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request({ host, port: Number(port), method, path, timeout: 5000,
      headers: data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => {
        if (res.statusCode >= 400) return reject(new Error(`${method} http://${peer}${path}: HTTP ${res.statusCode} ${text}`));
        try {
          resolve({ body: JSON.parse(text), via: (res.headers['x-served-by'] || '').split(', ').filter(Boolean) });
        } catch (e) { reject(new Error(`${method} http://${peer}${path}: not JSON: ${text.slice(0, 200)}`)); }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} http://${peer}${path}: timed out`)));
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c) => { text += c; });
    req.on('end', () => { try { resolve(text ? JSON.parse(text) : {}); } catch (e) { reject(e); } });
    req.on('error', reject);
  });
}

function send(res, status, body, via) {
  res.writeHead(status, { 'content-type': 'application/json', 'x-served-by': [ME, ...(via || [])].join(', ') });
  res.end(JSON.stringify(body));
}

// routes: { 'GET /orders': async (body) => ({ status, body, via }) }; anything else is 404 (as express upstream,
// including GET /).
function serve(port, routes) {
  http.createServer(async (req, res) => {
    const route = routes[`${req.method} ${req.url.split('?')[0]}`];
    const t0 = Date.now();
    let status = 200;
    try {
      if (!route) { status = 404; send(res, 404, { error: `Cannot ${req.method} ${req.url}` }); return; }
      const out = await route(req.method === 'POST' ? await readBody(req) : undefined);
      status = out.status || 200;
      send(res, status, out.body, out.via);
    } catch (e) {
      status = 502;
      send(res, 502, { error: e.message });
    } finally {
      console.log(`${new Date().toISOString()} ${req.method} ${req.url} ${status} ${Date.now() - t0}ms`);
    }
  }).listen(port, () => console.log(`${ME} listening on ${port}, peers: ${process.argv.slice(2).join(' ') || 'none'}`));
}

const [payment, db] = process.argv.slice(2);
serve(3002, {
  'GET /orders': async () => call(db, 'GET', '/orders'),
  'POST /orders': async (body) => {
    const order = await call(db, 'POST', '/orders', body);
    const transaction = await call(payment, 'POST', '/transactions',
      { orderId: order.body.id, amount: body.price, customer: body.customer });
    return {
      status: 201,
      body: { order: order.body, transaction: transaction.body, via: { order: order.via, transaction: transaction.via } },
      via: order.via,
    };
  },
});
