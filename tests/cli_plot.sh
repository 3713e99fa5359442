# shendu plot (issue 17): SVG parsed as XML with one series per run and
# measure, a PNG, terminal sparklines, labels, and the errors.
. "$(dirname "$0")/lib_cli.sh"
png_size() { python3 -c 'import struct, sys; d = open(sys.argv[1], "rb").read(24); assert d[:8] == b"\x89PNG\r\n\x1a\n"; print("%d x %d" % struct.unpack(">II", d[16:24]))' "$1"; }

# two runs in the two formats: three measures (loss and lr per step, accuracy per epoch)
for s in 5 10 15 20; do
    printf '{"kind":"step","step":%d,"epoch":1,"time":%d.5,"loss":%s,"lr":0.001,"test_accuracy":null}\n' \
        "$s" "$s" "$(awk "BEGIN { printf \"%.4f\", 2 / $s }")"
done > "$TMP/a.jsonl"
printf '{"kind":"epoch","step":20,"epoch":1,"time":21,"loss":null,"lr":null,"test_accuracy":0.8}\n' >> "$TMP/a.jsonl"
{
    echo "kind,step,epoch,time,loss,lr,test_accuracy"
    for s in 5 10 15 20; do echo "step,$s,1,$s,$(awk "BEGIN { printf \"%.4f\", 3 / $s }"),0.002,"; done
    echo "epoch,20,1,22,,,0.75"
} > "$TMP/b.csv"

expect 0 "wrote .*b.svg \(2 runs\)" "$BIN" plot "$TMP/a.jsonl" "$TMP/b.csv" --out "$TMP/b.svg" --smooth 0.5 --log-y
if python3 - "$TMP/b.svg" <<'EOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = "{http://www.w3.org/2000/svg}"
assert root.tag == ns + "svg", root.tag
series = [p for p in root.iter(ns + "polyline") if p.get("class") == "series"]
raw = [p for p in root.iter(ns + "polyline") if p.get("class") == "raw"]
got = sorted((p.get("data-run"), p.get("data-measure")) for p in series)
want = sorted((r, m) for r in ("a", "b") for m in ("loss", "lr", "test_accuracy"))
assert got == want, got
assert len(raw) == 4, len(raw)          # smoothed: the raw step values behind loss and lr
for p in series:
    pts = p.get("points").split()
    assert len(pts) == (1 if p.get("data-measure") == "test_accuracy" else 4), (p.get("data-measure"), pts)
texts = [t.text for t in root.iter(ns + "text")]
assert "loss (log scale)" in texts and "a" in texts and "b" in texts, texts
EOF
then ok; else bad "the SVG's series"; fi

expect 0 "wrote" "$BIN" plot "$TMP/a.jsonl" --out "$TMP/one.svg" --measures loss --label "my run" --x time --title "A title"
if python3 -c '
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
s = [p for p in root.iter("{http://www.w3.org/2000/svg}polyline") if p.get("class") == "series"]
assert [(p.get("data-run"), p.get("data-measure")) for p in s] == [("my run", "loss")]
' "$TMP/one.svg"; then ok; else bad "--measures and --label"; fi

expect 0 "wrote" "$BIN" plot "$TMP/a.jsonl" "$TMP/b.csv" --out "$TMP/b.png"
expect 0 "^960 x 550$" png_size "$TMP/b.png"
expect 0 "^loss \(log scale\)" "$BIN" plot "$TMP/a.jsonl" "$TMP/b.csv" --terminal --log-y --columns 20
expect 0 "  a +[^ ]+  0.4 -> 0.1" "$BIN" plot "$TMP/a.jsonl" "$TMP/b.csv" --terminal --measures loss --columns 20
# two files of one name: the directory tells them apart
mkdir -p "$TMP/r1" "$TMP/r2"
cp "$TMP/a.jsonl" "$TMP/r1/log.jsonl"
cp "$TMP/a.jsonl" "$TMP/r2/log.jsonl"
expect 0 "r1/log.jsonl" "$BIN" plot "$TMP/r1/log.jsonl" "$TMP/r2/log.jsonl" --terminal

expect 2 "expected --out" "$BIN" plot "$TMP/a.jsonl"
expect 2 "expected at least one log" "$BIN" plot --out "$TMP/x.svg"
expect 2 "fewer runs" "$BIN" plot "$TMP/a.jsonl" "$TMP/b.csv" --label one --out "$TMP/x.svg"
expect 2 "unknown --x 'wall'" "$BIN" plot "$TMP/a.jsonl" --x wall --out "$TMP/x.svg"
expect 1 "nothere.jsonl: (cannot open: )?No such file" "$BIN" plot "$TMP/nothere.jsonl" --out "$TMP/x.svg"
printf 'not a log\n' > "$TMP/bad.jsonl"
expect 1 "bad.jsonl:1: 1 fields where the header has|bad.jsonl: no records" "$BIN" plot "$TMP/bad.jsonl" --out "$TMP/x.svg"
printf '{"kind":"step","step":1 "loss":2}\n' > "$TMP/bad.jsonl"
expect 1 "bad.jsonl:1: expected ',' or '}'" "$BIN" plot "$TMP/bad.jsonl" --out "$TMP/x.svg"
expect 1 "nothing to plot" "$BIN" plot "$TMP/a.jsonl" --measures nope --out "$TMP/x.svg"
[ ! -e "$TMP/x.svg" ] && ok || bad "a failed plot left a file"
done_tests
