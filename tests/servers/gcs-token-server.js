#!/usr/bin/env node
// A local stand-in for Google's OAuth 2.0 token endpoint (service-account flow), and an
// optional authenticating proxy in front of the storage emulator, for the GCS tests.
//
//   node gcs-token-server.js --port N --pubkey PEM --email ACCOUNT
//        [--expires-in SECONDS] [--upstream http://127.0.0.1:EMULATOR]
//        [--delay-ms N] [--record FILE]
//
// POST /token (application/x-www-form-urlencoded): grant_type must be
// urn:ietf:params:oauth:grant-type:jwt-bearer and `assertion` a JWT whose RS256
// signature verifies with PEM, header {"alg":"RS256","typ":"JWT"}, claims iss = ACCOUNT,
// scope naming devstorage, aud = this endpoint's URL, iat within 5 minutes of now and
// iat < exp <= iat + 3600. Then it answers {access_token, expires_in, token_type}; else
// 400 {"error":"invalid_grant", "error_description": why} as Google does.
// GET /stats: {"exchanges", "refused", "proxied", "unauthorized"} so tests can count.
// Any other request is proxied to --upstream when it carries "Authorization: Bearer T"
// with T issued here and not expired; otherwise 401 (no upstream: 404). --delay-ms holds
// each proxied request that long (so a test run outlives a short token); --record writes
// the last assertion received to FILE (so the test can check its signature with openssl).
"use strict";

const crypto = require("crypto");
const fs = require("fs");
const http = require("http");

const opts = { port: 0, pubkey: "", email: "", "expires-in": "3600", upstream: "", "delay-ms": "0", record: "" };
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, "");
  if (!(key in opts) || i + 1 >= process.argv.length) {
    process.stderr.write(`gcs-token-server: unknown or incomplete option ${process.argv[i]}\n`);
    process.exit(2);
  }
  opts[key] = process.argv[i + 1];
}
if (!opts.port || !opts.pubkey || !opts.email) {
  process.stderr.write("usage: gcs-token-server.js --port N --pubkey PEM --email ACCOUNT [--expires-in S] [--upstream URL]\n");
  process.exit(2);
}
const publicKey = crypto.createPublicKey(fs.readFileSync(opts.pubkey));
const expiresIn = Number(opts["expires-in"]);
const stats = { exchanges: 0, refused: 0, proxied: 0, unauthorized: 0 };
const tokens = new Map(); // access token -> expiry (ms since epoch)

function b64urlJson(part) {
  if (!/^[A-Za-z0-9_-]+$/.test(part)) throw new Error("JWT part is not base64url");
  return JSON.parse(Buffer.from(part, "base64url").toString("utf-8"));
}

// Returns null when the assertion is acceptable, else the reason.
function checkAssertion(assertion, audience) {
  const parts = String(assertion || "").split(".");
  if (parts.length !== 3) return "JWT must have 3 parts";
  let header, claims;
  try {
    header = b64urlJson(parts[0]);
    claims = b64urlJson(parts[1]);
  } catch (e) {
    return `JWT header or claims unreadable: ${e.message}`;
  }
  if (header.alg !== "RS256" || header.typ !== "JWT") return "JWT header must be alg RS256, typ JWT";
  const signature = Buffer.from(parts[2], "base64url");
  const signed = Buffer.from(parts[0] + "." + parts[1], "ascii");
  if (!crypto.verify("RSA-SHA256", signed, publicKey, signature)) return "Invalid JWT Signature.";
  if (claims.iss !== opts.email) return `iss is not ${opts.email}`;
  if (typeof claims.scope !== "string" || !/https:\/\/www\.googleapis\.com\/auth\/devstorage\./.test(claims.scope))
    return "scope does not name a devstorage scope";
  if (claims.aud !== audience) return `aud is not ${audience}`;
  const now = Math.floor(Date.now() / 1000);
  if (!Number.isInteger(claims.iat) || Math.abs(claims.iat - now) > 300) return "iat is not now";
  if (!Number.isInteger(claims.exp) || claims.exp <= claims.iat || claims.exp > claims.iat + 3600)
    return "exp must be after iat and at most an hour later";
  return null;
}

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

function exchange(req, res, body) {
  const form = new URLSearchParams(body.toString("utf-8"));
  const audience = `http://${req.headers.host}${req.url}`;
  if (opts.record) fs.writeFileSync(opts.record, form.get("assertion") || "");
  let why = null;
  if (form.get("grant_type") !== "urn:ietf:params:oauth:grant-type:jwt-bearer") why = "unsupported grant_type";
  else why = checkAssertion(form.get("assertion"), audience);
  if (why) {
    stats.refused++;
    sendJson(res, 400, { error: "invalid_grant", error_description: why });
    return;
  }
  stats.exchanges++;
  const token = "ya29.test-" + crypto.randomBytes(24).toString("hex");
  tokens.set(token, Date.now() + expiresIn * 1000);
  sendJson(res, 200, { access_token: token, expires_in: expiresIn, token_type: "Bearer" });
}

function proxy(req, res, body) {
  const m = /^Bearer (\S+)$/.exec(req.headers.authorization || "");
  const expiry = m ? tokens.get(m[1]) : undefined;
  if (!expiry || expiry <= Date.now()) {
    stats.unauthorized++;
    sendJson(res, 401, { error: { code: 401, message: m ? "Invalid or expired credentials" : "Anonymous caller" } });
    return;
  }
  stats.proxied++;
  setTimeout(() => forward(req, res, body), Number(opts["delay-ms"]));
}

function forward(req, res, body) {
  const headers = { ...req.headers };
  delete headers.authorization;
  const up = new URL(opts.upstream);
  headers.host = up.host;
  const out = http.request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers }, (upRes) => {
    // The emulator writes its own host into Location; send the client back through us.
    const h = { ...upRes.headers };
    if (h.location) h.location = h.location.replace(opts.upstream, `http://${req.headers.host}`);
    res.writeHead(upRes.statusCode, h);
    upRes.pipe(res);
  });
  out.on("error", (e) => sendJson(res, 502, { error: { code: 502, message: e.message } }));
  out.end(body);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    if (req.method === "POST" && req.url === "/token") exchange(req, res, body);
    else if (req.method === "GET" && req.url === "/stats") sendJson(res, 200, stats);
    else if (opts.upstream) proxy(req, res, body);
    else sendJson(res, 404, { error: "not found" });
  });
});
server.listen(Number(opts.port), "127.0.0.1", () => {
  process.stdout.write(`gcs-token-server: listening on http://127.0.0.1:${opts.port}\n`);
});
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(0));
