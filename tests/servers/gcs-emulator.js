#!/usr/bin/env node
// Starts firebase-tools' Cloud Storage emulator offline, without `firebase emulators:start`
// (which needs Java or a download): see ../shared/TESTING.md, "GCS".
//
//   node gcs-emulator.js --port N --state DIR [--host 127.0.0.1] [--modules DIR]
//
// The emulator keeps objects in memory; this launcher makes them survive a kill -9 and a
// restart on the same DIR: blobs live in DIR/blobs and every object's metadata is written
// to DIR/meta/<sha256 of bucket/name>.json (temp file + rename) when the emulator stores it, and
// removed when it deletes it. At start, DIR/meta is loaded back.
"use strict";

const crypto = require("crypto");
const fs = require("fs");
const path = require("path");

function parseArgs(argv) {
  const out = { host: "127.0.0.1", port: 0, state: "", modules: "", project: "coffer-test" };
  for (let i = 2; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, "");
    if (!(key in out) || i + 1 >= argv.length) {
      process.stderr.write(`gcs-emulator: unknown or incomplete option ${argv[i]}\n`);
      process.exit(2);
    }
    out[key] = key === "port" ? Number(argv[i + 1]) : argv[i + 1];
  }
  if (!out.port || !out.state) {
    process.stderr.write("usage: gcs-emulator.js --port N --state DIR [--host H] [--modules DIR]\n");
    process.exit(2);
  }
  return out;
}

const args = parseArgs(process.argv);
const moduleRoot = args.modules ? path.join(args.modules, "node_modules") : "";
function load(rel) {
  return require(moduleRoot ? path.join(moduleRoot, rel) : rel);
}

const { StorageEmulator } = load("firebase-tools/lib/emulator/storage");
const { EmulatorRegistry } = load("firebase-tools/lib/emulator/registry");
const { StoredFileMetadata } = load("firebase-tools/lib/emulator/storage/metadata");
const { StoredFile } = load("firebase-tools/lib/emulator/storage/files");

const blobsDir = path.join(args.state, "blobs");
const metaDir = path.join(args.state, "meta");
fs.mkdirSync(blobsDir, { recursive: true });
fs.mkdirSync(metaDir, { recursive: true });

// One folder per instance instead of the shared $TMPDIR/firebase/storage/blobs.
StorageEmulator.prototype.getPersistenceTmpDir = () => blobsDir;

const emulator = new StorageEmulator({
  projectId: args.project,
  host: args.host,
  port: args.port,
  rules: { name: "unused.rules" },
  auto_download: false,
});

// The GCS JSON routes never consult Firebase security rules: no rules runtime (Java).
const noop = async () => undefined;
emulator._rulesRuntime.start = noop;
emulator._rulesRuntime.stop = noop;
emulator._rulesManager = { start: noop, stop: noop, getRuleset: () => undefined };

const files = emulator._files;
const persistence = emulator._persistence;
// Object names run to 1024 bytes: the record's file is named by a hash of bucket/name.
const metaPath = (key) => path.join(metaDir, crypto.createHash("sha256").update(key).digest("hex") + ".json");

function journalSet(key, stored) {
  const record = {
    key,
    disk: persistence.getDiskFileName(key),
    metadata: StoredFileMetadata.toJSON(stored.metadata),
  };
  const tmp = metaPath(key) + ".tmp";
  fs.writeFileSync(tmp, JSON.stringify(record));
  fs.renameSync(tmp, metaPath(key));
}

function restore() {
  let count = 0;
  for (const entry of fs.readdirSync(metaDir)) {
    if (!entry.endsWith(".json")) continue;
    let record;
    try {
      record = JSON.parse(fs.readFileSync(path.join(metaDir, entry), "utf-8"));
    } catch (e) {
      continue; // a record torn by a kill: its object was never acknowledged
    }
    if (!record.disk || !fs.existsSync(path.join(blobsDir, encodeURIComponent(record.disk)))) continue;
    const metadata = StoredFileMetadata.fromJSON(record.metadata, emulator._cloudFunctions);
    persistence._diskPathMap.set(record.key, record.disk);
    Map.prototype.set.call(files, record.key, new StoredFile(metadata));
    emulator.storageLayer.createBucket(metadata.bucket);
    count++;
  }
  return count;
}

// Loaded once the registry knows the emulator (bucket metadata asks it for the URL) and
// before the server listens.
let restored = 0;
const originalStart = emulator.start.bind(emulator);
emulator.start = async () => {
  restored = restore();
  return originalStart();
};
const originalSet = files.set.bind(files);
const originalDelete = files.delete.bind(files);
files.set = (key, value) => {
  originalSet(key, value);
  journalSet(key, value);
  return files;
};
files.delete = (key) => {
  const had = originalDelete(key);
  fs.rmSync(metaPath(key), { force: true });
  return had;
};

EmulatorRegistry.start(emulator).then(
  () => {
    process.stdout.write(`gcs-emulator: listening on http://${args.host}:${args.port} (${restored} objects restored)\n`);
  },
  (err) => {
    process.stderr.write(`gcs-emulator: start failed: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  },
);

// Leave the blobs in place on a normal stop too (emulator.stop() would delete them).
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(0));
