// kafkajs: an idempotent acks=all producer and a group consumer in one
// process, for clients_test.go. The line protocol is that of the Python
// scripts (../clients_common.py): records "0", "1", "2" ... (key "k"), one
// every --interval-ms; on stdout "ready", "sent <seq>", "ack <seq> <partition> <offset>",
// "fail <seq> <error>", "rec <partition> <offset> <value>", "flushed" and
// "error <text>"; on stdin "stop" stops producing, EOF closes and exits.
//
// Durability settings as kafkajs's users set them: idempotent: true (which
// kafkajs allows only with acks -1 and maxInFlightRequests 1), acks -1 on
// every send, and retries bounded by the retry settings. kafkajs sends one
// request at a time here: a send waits for its acknowledgement.
'use strict';

const { Kafka, logLevel } = require('kafkajs');

function parseArgs(argv) {
  const out = { intervalMs: 20, logLevel: 'warn' };
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (v === undefined) throw new Error(`${k} needs a value`);
    switch (k) {
      case '--bootstrap': out.bootstrap = v.split(','); break;
      case '--topic': out.topic = v; break;
      case '--group': out.group = v; break;
      case '--name': out.name = v; break;
      case '--interval-ms': out.intervalMs = Number(v); break;
      case '--log-level': out.logLevel = v; break;
      default: throw new Error(`unknown argument ${k}`);
    }
  }
  for (const k of ['bootstrap', 'topic', 'group', 'name']) {
    if (!out[k]) throw new Error(`--${k} is required`);
  }
  return out;
}

function emit(...fields) {
  process.stdout.write(fields.join(' ').replace(/\n/g, ' ') + '\n');
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const kafka = new Kafka({
    clientId: args.name,
    brokers: args.bootstrap,
    connectionTimeout: 2000,
    requestTimeout: 10000,
    retry: { initialRetryTime: 100, maxRetryTime: 1000, retries: 5 },
    logLevel: logLevel[args.logLevel.toUpperCase()],
    logCreator: () => ({ namespace, level, log }) => {
      process.stderr.write(`${log.timestamp} ${level} ${namespace} ${log.message} ${JSON.stringify(log)}\n`);
    },
  });
  // The idempotent producer retries without limit (kafkajs's default for
  // it, which warns that fewer may break exactly-once), backing off at most
  // a second; the test bounds how long it waits.
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    retry: { initialRetryTime: 100, maxRetryTime: 1000, retries: Number.MAX_SAFE_INTEGER },
  });
  // kafkajs's consumer keeps its group coordinator across connection
  // errors: it finds the new one only once its retries (5, kafkajs's
  // default) run out and it restarts itself (restartOnFailure). With 30
  // retries it went on heartbeating the dead broker for 30 s.
  const consumer = kafka.consumer({
    groupId: args.group,
    sessionTimeout: 6000,
    heartbeatInterval: 500,
    rebalanceTimeout: 10000,
    maxWaitTimeInMs: 100,
    retry: { initialRetryTime: 100, maxRetryTime: 1000, retries: 5 },
  });
  consumer.on(consumer.events.CRASH, (e) => emit('error', 'consumer crash:', e.payload.error && e.payload.error.message, 'restart:', e.payload.restart));

  let stopping = false;
  let exiting = false;
  let lines = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => {
    lines += chunk;
    let i;
    while ((i = lines.indexOf('\n')) >= 0) {
      if (lines.slice(0, i).trim() === 'stop') stopping = true;
      lines = lines.slice(i + 1);
    }
  });
  const exited = new Promise((resolve) => process.stdin.on('end', resolve));
  exited.then(() => { stopping = true; exiting = true; });

  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topic: args.topic, fromBeginning: true });
  await consumer.run({
    autoCommitInterval: 500,
    eachMessage: async ({ partition, message }) => {
      emit('rec', partition, message.offset, message.value.toString());
    },
  });
  emit('ready');

  for (let seq = 0; !stopping; seq++) {
    const started = Date.now();
    emit('sent', seq);
    try {
      const md = await producer.send({ topic: args.topic, acks: -1, timeout: 5000, messages: [{ key: 'k', value: String(seq) }] });
      emit('ack', seq, md[0].partition, md[0].baseOffset);
    } catch (e) {
      emit('fail', seq, e.name, e.message);
    }
    await sleep(Math.max(0, args.intervalMs - (Date.now() - started)));
  }
  emit('flushed');
  await exited;
  await consumer.disconnect();
  await producer.disconnect();
}

main().then(() => process.exit(0), (e) => {
  emit('error', 'fatal:', e && e.stack);
  process.exit(1);
});
