#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft) for tests, bench and CI, from Maven Central jars.
#   kafka.sh start   fetch the jars once into ~/.cache/kubetrail, format, start on free loopback
#                    ports, wait until a produce/consume probe succeeds; prints KAFKA_BROKERS=host:port
#   kafka.sh stop    stop the broker started by `start` (by its PID) and remove its data
#   kafka.sh brokers print host:port of the running broker
# Beside the PLAINTEXT listener, a SASL_SSL one: its address in $RUN/sasl-brokers, the CA file
# of its certificate in $RUN/ca.pem, the user kubetrail with the password below (test only).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
VERSION=4.1.2
CACHE="${HOME}/.cache/kubetrail"
LIBS="$CACHE/kafka-$VERSION/libs"
RUN="${KUBETRAIL_KAFKA_RUN:-$CACHE/run/kafka}"
SASL_USER=kubetrail
SASL_PASSWORD=kubetrail-test-secret
STORE_PASSWORD=kubetrail-test-store

free_port() {
  node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

fetch() {
  if [ -f "$LIBS/.ok" ]; then return; fi
  echo "fetching Kafka $VERSION jars into $LIBS" >&2
  mkdir -p "$LIBS"
  mvn -B -q -f "$HERE/pom.xml" org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$LIBS" >&2
  touch "$LIBS/.ok"
}

running() {
  [ -f "$RUN/kafka.pid" ] && kill -0 "$(cat "$RUN/kafka.pid")" 2>/dev/null
}

start() {
  if running; then
    echo "KAFKA_BROKERS=$(cat "$RUN/brokers")"
    return
  fi
  fetch
  rm -rf "$RUN"
  mkdir -p "$RUN/data"
  local broker_port controller_port sasl_port
  broker_port=$(free_port)
  controller_port=$(free_port)
  while [ "$controller_port" = "$broker_port" ]; do controller_port=$(free_port); done
  sasl_port=$(free_port)
  while [ "$sasl_port" = "$broker_port" ] || [ "$sasl_port" = "$controller_port" ]; do sasl_port=$(free_port); done
  # A SASL_SSL listener as cloud brokers have (MSK, Event Hubs, Confluent Cloud): TLS with a
  # self-signed certificate for 127.0.0.1 (its PEM is the clients' CA file), SASL PLAIN and
  # SCRAM-SHA-256/512 for the user kubetrail.
  keytool -genkeypair -alias broker -keyalg RSA -keysize 2048 -validity 3650 -dname "CN=127.0.0.1" \
    -ext "SAN=IP:127.0.0.1,DNS:localhost" -keystore "$RUN/broker.p12" -storetype PKCS12 \
    -storepass "$STORE_PASSWORD" -keypass "$STORE_PASSWORD" > "$RUN/keytool.log" 2>&1 || { cat "$RUN/keytool.log" >&2; exit 1; }
  keytool -exportcert -rfc -alias broker -keystore "$RUN/broker.p12" -storetype PKCS12 -storepass "$STORE_PASSWORD" \
    -file "$RUN/ca.pem" >> "$RUN/keytool.log" 2>&1 || { cat "$RUN/keytool.log" >&2; exit 1; }
  cat > "$RUN/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$broker_port,CONTROLLER://127.0.0.1:$controller_port,SASL_SSL://127.0.0.1:$sasl_port
advertised.listeners=PLAINTEXT://127.0.0.1:$broker_port,CONTROLLER://127.0.0.1:$controller_port,SASL_SSL://127.0.0.1:$sasl_port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL
ssl.keystore.location=$RUN/broker.p12
ssl.keystore.type=PKCS12
ssl.keystore.password=$STORE_PASSWORD
ssl.key.password=$STORE_PASSWORD
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$SASL_USER="$SASL_PASSWORD";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
log.dirs=$RUN/data
num.partitions=1
auto.create.topics.enable=true
group.initial.rebalance.delay.ms=0
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
PROPS
  local cp="$LIBS/*"
  local jopts=(-Xms256m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true "-Dlog4j2.configurationFile=$HERE/log4j2.properties")
  local cluster_id
  # A cluster id is 16 random bytes in base64url. One that starts with '-' reads as an option to
  # the format tool, so draw again, as Kafka's own generator does.
  cluster_id=$(node -e "
    const { randomBytes } = require('crypto');
    let id;
    do id = randomBytes(16).toString('base64url'); while (id.startsWith('-'));
    console.log(id);")
  java "${jopts[@]}" -cp "$cp" kafka.tools.StorageTool format -t "$cluster_id" -c "$RUN/server.properties" --standalone \
    --add-scram "SCRAM-SHA-256=[name=$SASL_USER,password=$SASL_PASSWORD]" --add-scram "SCRAM-SHA-512=[name=$SASL_USER,password=$SASL_PASSWORD]" \
    > "$RUN/format.log" 2>&1 || { cat "$RUN/format.log" >&2; exit 1; }
  nohup java "${jopts[@]}" -cp "$cp" kafka.Kafka "$RUN/server.properties" > "$RUN/kafka.log" 2>&1 &
  echo $! > "$RUN/kafka.pid"
  echo "127.0.0.1:$broker_port" > "$RUN/brokers"
  echo "127.0.0.1:$sasl_port" > "$RUN/sasl-brokers"
  if ! node "$HERE/probe.mjs" "127.0.0.1:$broker_port" 90; then
    echo "the broker did not become ready; its log:" >&2
    tail -40 "$RUN/kafka.log" >&2
    stop
    exit 1
  fi
  echo "KAFKA_BROKERS=127.0.0.1:$broker_port"
}

stop() {
  if [ -f "$RUN/kafka.pid" ]; then
    local pid
    pid=$(cat "$RUN/kafka.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
  fi
  rm -rf "$RUN"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  brokers) cat "$RUN/brokers" ;;
  *) echo "usage: $0 start|stop|brokers" >&2; exit 2 ;;
esac
