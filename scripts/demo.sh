#!/usr/bin/env bash
# The main job on an embedded default: a local stack on 127.0.0.1 (redis-server,
# a Kafka broker, the fake Meta and WooCommerce servers), sample products
# published through catalogsync-publish, and where they went: the Kafka topic,
# the meta worker's outcomes, the sync state in Redis, the fake Meta catalog,
# then a WooCommerce export and an update reaching the fake store.
#
#   scripts/demo.sh              run, show, stop everything
#   scripts/demo.sh --keep       leave the stack running (prints how to stop it)
#   scripts/demo.sh --real-kafka Apache Kafka 3.9.1 (scripts/kafka.py, a KRaft
#                                broker from the jars scripts/deps.sh fetched)
#                                instead of the dev broker (librdkafka's mock)
# Exit status: 0 the demo ran, 1 a part of the stack did not start.
set -eu
cd "$(dirname "$0")/.."
KEEP=0
KAFKA=dev
for arg in "$@"; do
  case "$arg" in
    --keep) KEEP=1 ;;
    --real-kafka) KAFKA=real ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "demo: unknown option $arg (see --help)" >&2; exit 64 ;;
  esac
done

scripts/deps.sh
make -s all

PY=/usr/bin/python3
WORK=$(mktemp -d /tmp/catalogsync-demo.XXXXXX)
PIDS=()
cleanup() {
  if [ "$KEEP" = 1 ]; then return; fi
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { "$PY" -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
# wait_file FILE WHAT [TENTHS]: waits for a started part to write FILE.
wait_file() { for _ in $(seq 1 "${3:-100}"); do [ -s "$1" ] && return 0; sleep 0.1; done; echo "demo: $2 did not start" >&2; exit 1; }

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK" --appendonly yes \
  --maxmemory-policy noeviction --save "" --daemonize no > "$WORK/redis.log" 2>&1 &
PIDS+=($!)

if [ "$KAFKA" = real ]; then
  "$PY" scripts/kafka.py --partitions 6 --dir "$WORK/kafka" --brokers-file "$WORK/brokers" \
    > /dev/null 2> "$WORK/broker.log" &
  PIDS+=($!)
  wait_file "$WORK/brokers" "Apache Kafka (log: $WORK/broker.log)" 1200
  KAFKA_NAME="Apache Kafka $(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' scripts/kafka/pom.xml)"
else
  build/bin/catalogsync-devbroker --partitions 6 --brokers-file "$WORK/brokers" \
    > /dev/null 2> "$WORK/broker.log" &
  PIDS+=($!)
  wait_file "$WORK/brokers" "the dev broker"
  KAFKA_NAME="dev Kafka broker"
fi
BROKERS=$(cat "$WORK/brokers")

"$PY" tests/fakes/fake_meta.py --port 0 --port-file "$WORK/meta.port" --token demo-meta-token \
  --catalog 555000111 > /dev/null 2> "$WORK/fake-meta.log" &
PIDS+=($!)
"$PY" tests/fakes/fake_woo.py --port 0 --port-file "$WORK/woo.port" --key ck_demo --secret cs_demo \
  > /dev/null 2> "$WORK/fake-woo.log" &
PIDS+=($!)
wait_file "$WORK/meta.port" "the fake Meta API"
wait_file "$WORK/woo.port" "the fake WooCommerce API"

for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
META_PORT=$(cat "$WORK/meta.port")

cat > "$WORK/catalogsync.conf" <<CONF
kafka  = { brokers = "$BROKERS"; };
redis  = { port = $REDIS_PORT; };
worker = { linger_ms = 100; confirm_poll_ms = 50; };
meta   = { catalogs = ( { id = "main"; base_url = "http://127.0.0.1:$META_PORT";
                          api_version = "v25.0"; catalog_id = "555000111";
                          placeholder_image_url = "https://shop.example/no-image.png";
                          token = "env:DEMO_META_TOKEN"; } ); };
woocommerce = { connections = ( { id = 1; name = "Demo store";
                                  base_url = "http://127.0.0.1:$(cat "$WORK/woo.port")";
                                  auth = "oauth1";   # plain HTTP: signed requests, never Basic
                                  consumer_key = "env:DEMO_WOO_KEY";
                                  consumer_secret = "env:DEMO_WOO_SECRET"; } ); };
CONF
DEMO_META_TOKEN=demo-meta-token build/bin/catalogsync-worker --sink meta \
  --config "$WORK/catalogsync.conf" > "$WORK/worker-meta.log" 2>&1 &
PIDS+=($!)
DEMO_WOO_KEY=ck_demo DEMO_WOO_SECRET=cs_demo build/bin/catalogsync-worker --sink woocommerce \
  --config "$WORK/catalogsync.conf" > "$WORK/worker-woo.log" 2>&1 &
PIDS+=($!)

cat <<TXT
== local stack (all on 127.0.0.1)
  redis-server        port $REDIS_PORT (AOF on)          redis-cli -p $REDIS_PORT
  $KAFKA_NAME    $BROKERS (catalog.product-events, .dlq; 6 partitions)
  fake Meta Graph     http://127.0.0.1:$(cat "$WORK/meta.port")  (catalog 555000111)
  fake WooCommerce    http://127.0.0.1:$(cat "$WORK/woo.port")

== publishing deploy/samples/products.jsonl as product.updated events
TXT
set +e
build/bin/catalogsync-publish -b "$BROKERS" --type updated --actor demo deploy/samples/products.jsonl
rc=$?
set -e
echo "(exit status $rc: 1 means some input was rejected, as the sample's last line is meant to be)"

echo
echo "== where they went: topic catalog.product-events, read back with kcat"
kcat -C -b "$BROKERS" -t catalog.product-events -o beginning -e -q \
  -f '  partition %p offset %o  key %k  %h\n' 2>/dev/null | sort
echo
echo "Every event of one product sits in one partition (key tenant:product_id), in order."

echo
echo "== the meta worker pushes them to the fake Meta catalog (waiting for outcomes)"
for _ in $(seq 1 300); do
  n=0
  for k in $(redis-cli -p "$REDIS_PORT" --scan --pattern 'catalogsync:{meta}:state:*'); do
    st=$(redis-cli -p "$REDIS_PORT" HGET "$k" status)
    case "$st" in synced|failed|skipped) n=$((n + 1));; esac
  done
  [ "$n" -ge 5 ] && break
  sleep 0.1
done
grep -E "Successfully synced|Error Message|Attempt" "$WORK/worker-meta.log" | sed 's/^/  /'
echo
echo "== sync state in Redis (redis-cli -p $REDIS_PORT HGETALL 'catalogsync:{meta}:state:main:default:<id>')"
for k in $(redis-cli -p "$REDIS_PORT" --scan --pattern 'catalogsync:{meta}:state:*' | sort); do
  printf '  %-44s %-8s attempts=%s synced_version=%s %s\n' "$k" \
    "$(redis-cli -p "$REDIS_PORT" HGET "$k" status)" "$(redis-cli -p "$REDIS_PORT" HGET "$k" attempts)" \
    "$(redis-cli -p "$REDIS_PORT" HGET "$k" synced_version)" "$(redis-cli -p "$REDIS_PORT" HGET "$k" last_error_message)"
done
echo
echo "== items in the fake Meta catalog 555000111"
curl -s "http://127.0.0.1:$META_PORT/_fake/state" | "$PY" -c '
import json, sys
items = json.load(sys.stdin)["catalogs"]["555000111"]["items"]
for rid, it in sorted(items.items()):
    f = it["fields"]
    print("  %-12s %-40s %-12s %s" % (rid, f.get("title"), f.get("price"), f.get("availability")))'

WOO_PORT=$(cat "$WORK/woo.port")
woo_state() {
  curl -s "http://127.0.0.1:$WOO_PORT/_fake/state" | "$PY" -c '
import json, sys
for pid, p in sorted(json.load(sys.stdin)["products"].items()):
    print("  #%-4s %-12s %-34s %-8s %s" % (pid, p["sku"], p["name"], p["regular_price"], p["status"]))'
}
wait_link() {  # product, wanted status
  for _ in $(seq 1 300); do
    [ "$(redis-cli -p "$REDIS_PORT" HGET "catalogsync:{woocommerce}:link:1:default:$1" status)" = "$2" ] && return 0
    sleep 0.1
  done
}

echo
echo "== WooCommerce: products are pushed to a store only after an export"
build/bin/catalogsync-publish -b "$BROKERS" --type updated --quiet deploy/samples/products.jsonl > /dev/null || true
echo "  (the samples were published again as updates: nothing reaches the store, they are not linked)"
head -2 deploy/samples/products.jsonl | build/bin/catalogsync-publish -b "$BROKERS" --type export_requested \
  --connections 1 --fields name,sku,price,description,stock,COLOR,WEIGHT
wait_link 1001 synced; wait_link 1002 failed
echo "  exported 1001 and 1002 to store 1 (a USD store; 1002 is priced in JPY, so it is refused):"
woo_state
echo "  1002: $(redis-cli -p "$REDIS_PORT" HGET 'catalogsync:{woocommerce}:link:1:default:1002' error_message)"
echo "  link record: redis-cli -p $REDIS_PORT HGETALL 'catalogsync:{woocommerce}:link:1:default:1001'"
redis-cli -p "$REDIS_PORT" HGETALL 'catalogsync:{woocommerce}:link:1:default:1001' | paste - - | sed 's/^/    /'

echo
echo "== an update of 1001 now reaches the store by itself (auto-sync)"
printf '%s\n' '{"id":"1001","version":3,"sku":"MUG-BLUE","name":"Blue mug (new glaze)","price":{"amount":"13.00","currency":"USD"},"stock_quantity":30,"is_active":true}' \
  | build/bin/catalogsync-publish -b "$BROKERS" --type updated
for _ in $(seq 1 300); do
  [ "$(redis-cli -p "$REDIS_PORT" HGET 'catalogsync:{woocommerce}:state:1:default:1001' synced_version)" = 3 ] && break
  sleep 0.1
done
woo_state
grep -h "Successfully synced" "$WORK/worker-woo.log" | sed 's/^/  /'
echo "  not linked (never exported): $(redis-cli -p "$REDIS_PORT" SMEMBERS 'catalogsync:{woocommerce}:not_linked:1' | sort | tr '\n' ' ')"

if [ "$KEEP" = 1 ]; then
  echo
  echo "Stack left running; stop it with: kill ${PIDS[*]}"
fi
