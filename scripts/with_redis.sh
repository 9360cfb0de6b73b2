# Sourced by the store benchmarks: a scratch directory `$dir` and a
# redis-server of their own on a free loopback port `$port`, both gone when
# the script exits.
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no >/dev/null &
redis_pid=$!
trap 'kill $redis_pid; rm -rf "$dir"' EXIT
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.05; done
