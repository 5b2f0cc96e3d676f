#!/usr/bin/env bash
# Create one virtual environment per peer backtester for bench/bench_backtest.py.
#
# Usage: bench/install_peers.sh [peer ...]     (default: backtesting backtrader nautilus)
#        bench/install_peers.sh vectorbt      (for bench/bench_sweep.py only)
# Venvs go to $HERON_PEER_VENVS (default: .bench-venvs/ in the repository root).
# Pins: the versions measured in the peer study; they install and run on Python 3.11
# (nautilus_trader 1.221.0 is its last release for 3.11).
# Each peer gets pandas + pyarrow so its script can read the cached parquet bars.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENVS="${HERON_PEER_VENVS:-$ROOT/.bench-venvs}"
PYTHON="${HERON_PEER_PYTHON:-python3.11}"

pins_for() {
    case "$1" in
        backtesting) echo "backtesting==0.6.6 pandas>=2.1,<3 numpy>=1.26,<2.4 pyarrow>=15" ;;
        backtrader) echo "backtrader==1.9.78.123 pandas>=2.1,<3 numpy>=1.26,<2.4 pyarrow>=15" ;;
        nautilus) echo "nautilus_trader==1.221.0 pandas>=2.1,<3 numpy>=1.26,<2.4 pyarrow>=15" ;;
        # vectorbt 1.0.0 does not import with plotly 6; 1.2 would pull pandas 3
        vectorbt) echo "vectorbt==1.0.0 plotly<6 pandas>=2.1,<3 numpy>=1.26,<2.4 pyarrow>=15" ;;
        *) echo "unknown peer: $1 (known: backtesting backtrader nautilus vectorbt)" >&2
           return 1 ;;
    esac
}

install_one() {
    local peer="$1" dir="$VENVS/$1" pins
    pins="$(pins_for "$peer")"
    echo "==> $peer -> $dir"
    uv venv --quiet --allow-existing --python "$PYTHON" "$dir"
    # shellcheck disable=SC2086  # pins are a word list on purpose
    uv pip install --quiet --python "$dir/bin/python" $pins
    if [ "$peer" = vectorbt ]; then  # the sweep peer: bench/bench_sweep.py runs it
        "$dir/bin/python" "$ROOT/bench/peers/sweep_vectorbt.py" --version
    else
        "$dir/bin/python" "$ROOT/bench/peers/peer_$peer.py" --version
    fi
}

if [ "$#" -eq 0 ]; then
    set -- backtesting backtrader nautilus
fi
for peer in "$@"; do
    install_one "$peer"
done
echo "peer venvs ready under $VENVS"
