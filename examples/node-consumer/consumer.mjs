// Reads storylane-bridge's sessions from JetStream as CloudEvents and prints
// each as one line of the CloudEvents JSON format.
//
//   node consumer.mjs [--server nats://127.0.0.1:4222] [--nkey ./data/reader.nk]
//                     [--subject 'storylane.session.>'] [--new] [--count N]
//
// It uses an ordered consumer: created by the client, in memory on the
// server, deleted when the client stops or goes away. The embedded broker's
// restricted reader may create one, as may any user allowed to read the
// stream, and there is no durable state to clean up.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { connect, nkeyAuthenticator } from "@nats-io/transport-node";
import { DeliverPolicy, jetstream } from "@nats-io/jetstream";
import { CloudEvent } from "cloudevents";

const HEADER_PREFIX = "ce-";
// Attributes every event of the bridge has. The SDK would make up a missing
// id (a random UUID) or time (now), so their absence must be caught here.
const REQUIRED = ["specversion", "id", "source", "type", "time"];

// toCloudEvent builds the CloudEvent of a message in the binary content mode
// of the CloudEvents NATS binding: each ce- header is an attribute, its
// value percent-encoded (space, '"', '%' and every byte outside printable
// ASCII as %XY of its UTF-8 bytes), and the data is the payload, untouched.
// decodeURIComponent is exactly that decoding, and throws a URIError on a
// value that is not valid percent-encoded UTF-8.
export function toCloudEvent(msg) {
  const attributes = {};
  for (const key of msg.headers?.keys() ?? []) {
    if (key.length > HEADER_PREFIX.length && key.slice(0, HEADER_PREFIX.length).toLowerCase() === HEADER_PREFIX) {
      attributes[key.slice(HEADER_PREFIX.length).toLowerCase()] = decodeURIComponent(msg.headers.get(key));
    }
  }
  for (const name of REQUIRED) {
    if (!(name in attributes)) {
      throw new Error(`not a CloudEvent: no ${HEADER_PREFIX}${name} header`);
    }
  }
  // Bytes as data: the SDK then keeps them exactly (as data_base64) instead
  // of parsing and re-serialising the JSON.
  return new CloudEvent({ ...attributes, data: msg.data });
}

// jsonLine is the event in the CloudEvents JSON format, its data as
// data_base64, byte for byte. The SDK's own toJSON would rewrite the time
// through Date, cutting it to milliseconds.
export function jsonLine(event) {
  return JSON.stringify({ ...event.toJSON(), time: event.time });
}

function options() {
  const { values } = parseArgs({
    options: {
      server: { type: "string", default: process.env.NATS_URL ?? "nats://127.0.0.1:4222" },
      nkey: { type: "string", default: process.env.NATS_NKEY ?? "" },
      stream: { type: "string", default: "STORYLANE" },
      subject: { type: "string", default: "storylane.session.>" },
      new: { type: "boolean", default: false },
      count: { type: "string", default: "0" },
    },
  });
  const count = Number(values.count);
  if (!Number.isInteger(count) || count < 0) {
    throw new Error(`--count ${values.count}: want a whole number, 0 for no limit`);
  }
  return { ...values, count };
}

async function main() {
  const opts = options();
  const nc = await connect({
    servers: opts.server.split(","),
    name: "storylane-node-consumer",
    authenticator: opts.nkey ? nkeyAuthenticator(new TextEncoder().encode(readFileSync(opts.nkey, "utf8").trim())) : undefined,
  });
  const consumer = await jetstream(nc).consumers.get(opts.stream, {
    filter_subjects: opts.subject,
    deliver_policy: opts.new ? DeliverPolicy.New : DeliverPolicy.All,
  });
  const messages = await consumer.consume();
  const stop = () => messages.stop();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  console.error(`reading ${opts.subject} from ${opts.stream} on ${nc.getServer()}`);
  let seen = 0;
  for await (const msg of messages) {
    try {
      console.log(jsonLine(toCloudEvent(msg)));
    } catch (err) {
      // Not a CloudEvent we can read: say which, and go on.
      console.error(`skipping ${msg.subject} #${msg.seq}: ${err.message}`);
    }
    if (opts.count > 0 && ++seen === opts.count) {
      messages.stop();
    }
  }
  // An ordered consumer would otherwise stay listed on the server until its
  // inactivity threshold (5 minutes in nats.js) passes.
  await consumer.delete().catch((err) => console.error(`delete the ordered consumer: ${err.message}`));
  await nc.drain();
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(err.message);
    process.exit(1);
  });
}
