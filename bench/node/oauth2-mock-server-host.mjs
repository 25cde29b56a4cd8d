// Minimal host for oauth2-mock-server (bench/run.sh). Usage: node oauth2-mock-server-host.mjs PORT
// It generates an RSA-2048 (RS256) signing key at start, as the package's CLI does, listens on
// 127.0.0.1:PORT and prints "oauth2-mock-server ready <issuer>". Stops on SIGTERM or SIGINT.
import { OAuth2Server } from 'oauth2-mock-server';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node oauth2-mock-server-host.mjs PORT');
  process.exit(2);
}

const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');
await server.start(port, '127.0.0.1');
console.log(`oauth2-mock-server ready ${server.issuer.url}`);

const stop = async () => {
  await server.stop();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
