// Prints one private RSA signing key as a JWK (one line of JSON): RS256,
// use "sig" and a random kid. The end-to-end fixture makes a fresh key for
// the provider at start and at every rotation.
import { generateKeyPairSync, randomBytes } from 'node:crypto';

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = privateKey.export({ format: 'jwk' });

process.stdout.write(`${JSON.stringify({
  ...jwk,
  kid: randomBytes(12).toString('base64url'),
  use: 'sig',
  alg: 'RS256',
})}\n`);
