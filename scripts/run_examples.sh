#!/usr/bin/env bash
# Builds the Examples/ package (which depends on this project by path) and runs each example on the test fixtures:
# chat-example's answer must equal `mgllava chat`'s, features-example's file must equal `mgllava features`'s,
# boxes-example's box record must equal `mgllava boxes --tagger`'s, and
# train-example must print finite losses for its pretrain and SFT steps. Debug builds; about a minute once built.
# Called by .ci/run after the tests; run it from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "run_examples: FAILED: $*" >&2; exit 1; }
trim() { local s="$1"; s="${s#"${s%%[![:space:]]*}"}"; printf '%s' "${s%"${s##*[![:space:]]}"}"; }

F=Tests/Fixtures
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
started=$SECONDS

echo "== building mgllava and Examples/ (debug)"
swift build --product mgllava
swift build --package-path Examples
bin=$(swift build --package-path Examples --show-bin-path)
mgllava=.build/debug/mgllava
echo "built in $((SECONDS - started)) s"

echo "== chat-example vs mgllava chat"
towers=(--visual-encoder "$F/models/clip-vit-tiny" --visual-encoder-aux "$F/models/convnext-tiny"
        --pth "$F/models/mgllava-tiny/sft.pth" --image "$F/preprocess/photo0.jpg" --image-size-aux 128)
model=(--llm "$F/models/vicuna-tiny" --tokenizer "$F/tokenizers/vicuna-tiny" "${towers[@]}")
for prompt in "What is in the picture?" "Describe the image."; do
    example=$("$bin/chat-example" "${model[@]}" --max-new-tokens 24 --prompt "$prompt") \
        || fail "chat-example exited with an error for \"$prompt\""
    # `mgllava chat --prompt` prints "ASSISTANT: " and the streamed answer (its box note goes to stderr).
    cli=$("$mgllava" chat "${model[@]}" --max-new-tokens 24 --prompt "$prompt" 2>/dev/null) \
        || fail "mgllava chat exited with an error for \"$prompt\""
    [[ "$cli" == "ASSISTANT: "* ]] || fail "mgllava chat's output does not start with \"ASSISTANT: \": $cli"
    cli=$(trim "${cli#ASSISTANT: }")
    example=$(trim "$example")
    echo "prompt:         $prompt"
    echo "chat-example:   $example"
    echo "mgllava chat:   $cli"
    [[ -n "$example" ]] || fail "chat-example printed an empty answer for \"$prompt\""
    [[ "$example" == "$cli" ]] || fail "chat-example's answer differs from mgllava chat's for \"$prompt\""
done
echo "answers equal"

echo "== features-example vs mgllava features"
"$bin/features-example" "${towers[@]}" --out "$tmp/example.safetensors" \
    || fail "features-example exited with an error"
"$mgllava" features "${towers[@]}" --out "$tmp/cli.safetensors" >/dev/null || fail "mgllava features exited with an error"
cmp -s "$tmp/example.safetensors" "$tmp/cli.safetensors" \
    || fail "features-example's safetensors file differs from mgllava features' (same image, towers and checkpoint)"
echo "safetensors files identical ($(wc -c < "$tmp/cli.safetensors") bytes)"

echo "== boxes-example vs mgllava boxes --tagger"
"$bin/boxes-example" --tagger "$F/ram/ram-plus-tiny" --detector "$F/owlv2/owlv2-tiny" --image "$F/ram/images/photo.jpg" \
    > "$tmp/example-boxes.json" 2>/dev/null || fail "boxes-example exited with an error"
"$mgllava" boxes --tagger "$F/ram/ram-plus-tiny" --detector "$F/owlv2/owlv2-tiny" --image "$F/ram/images/photo.jpg" \
    --out "$tmp/cli-boxes.json" >/dev/null || fail "mgllava boxes exited with an error"
python3 - "$tmp/example-boxes.json" "$tmp/cli-boxes.json" <<'PY' || fail "boxes-example's record differs from mgllava boxes'"
import json, sys
example, cli = (json.load(open(p)) for p in sys.argv[1:])
assert example == cli, (example, cli)
print(f"box records equal ({len(cli[0]['boxes'])} boxes, labels {sorted(set(cli[0]['labels']))})")
PY

echo "== train-example"
"$bin/train-example" --pretrain-steps 3 --sft-steps 3 --folder "$tmp/train" | tee "$tmp/train.log" \
    || fail "train-example exited with an error"
for stage in tiny_pretrain tiny_sft; do
    losses=$(sed -n "s/^$stage step [0-9]*: loss \([^ ]*\) .*/\1/p" "$tmp/train.log")
    [[ $(printf '%s\n' "$losses" | grep -c .) == 3 ]] || fail "train-example did not print 3 $stage losses"
    if printf '%s\n' "$losses" | grep -qiv '^[0-9.]*$'; then fail "train-example: a non-finite $stage loss: $losses"; fi
done
[[ -f "$tmp/train/work_dirs/sft/iter_3/model.safetensors" ]] || fail "train-example left no SFT checkpoint iter_3"

echo "run_examples: all examples passed in $((SECONDS - started)) s"
