#!/usr/bin/env bash
# One command: install what the tests need and run the whole suite: unit,
# integration (real etcd, real awscli) and brief fuzzing of the decoders.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"

go vet ./...
go test -count=1 -timeout 15m ./...

# Brief fuzzing: each target for a few seconds on top of its seed corpus.
# Counted runs (not timed ones) and short minimisation keep this bounded.
fuzz() { go test -run '^$' -fuzz "^$2\$" -fuzztime "${FUZZTIME:-50000x}" -fuzzminimizetime 2s "$1"; }
fuzz ./internal/api/wire FuzzDecodeRegisterTaskDefinition
fuzz ./internal/ecs FuzzValidateTaskDefinition
fuzz ./internal/api/sigv4 FuzzParseAuthorization
fuzz ./internal/api FuzzHandler
fuzz ./internal/scheduler FuzzParseExpression
echo "test.sh: all tests passed"
