#!/usr/bin/env bash
# Your own data (issue 16) end to end: a CSV table (scikit-learn's iris, from
# Debian's python3-sklearn) and folders of PNG, JPEG and colour pictures
# (Fashion-MNIST written out by example_folder_export): train, eval with the
# per-class measures, the model's recorded data, and the bad inputs.
. "$(dirname "$0")/lib_cli.sh"
SK=/usr/lib/python3/dist-packages/sklearn/datasets/data
EXPORT=${SHENDU_BUILD:?run through ctest}/example_folder_export
FASHION=/usr/share/datasets/fashion-mnist
[ -f "$SK/iris.csv" ] || { bad "$SK/iris.csv missing: apt-get install python3-sklearn (scripts/test installs it)"; done_tests; exit 1; }

# --- a table: sklearn's first line is "150,4,names..."; give it a header
{ echo 'sepal length,sepal width,petal length,petal width,species'
  sed '1d; s/,0$/,setosa/; s/,1$/,versicolor/; s/,2$/,virginica/' "$SK/iris.csv"; } > "$TMP/iris.csv"
out=$("$BIN" train --data "$TMP/iris.csv" --target species --epochs 30 --batch 16 --threads 1 --seed 3 \
      --test-split 0.25 --out "$TMP/iris.st" --json 2>&1) || bad "train on iris failed: $out"
grep -q "data: table .*iris.csv, target 'species': 4 features, 3 classes, 111 train / 39 test" <<<"$out" && ok ||
    bad "no data summary line: $out"
acc=$(tail -n 1 <<<"$out" | sed -E 's/.*"test_accuracy":([0-9.]+).*/\1/')
awk -v a="$acc" 'BEGIN { exit !(a >= 0.85) }' && ok || bad "iris test accuracy $acc after 30 epochs"
# eval without --data: the model knows its table, target, split and statistics
ev=$("$BIN" eval "$TMP/iris.st" --json 2>&1) || bad "eval failed: $ev"
eacc=$(tail -n 1 <<<"$ev" | sed -E 's/.*"test_accuracy":([0-9.]+).*/\1/')
[ "$eacc" = "$acc" ] && ok || bad "eval accuracy $eacc differs from train's $acc: $ev"
grep -qE "^virginica +[0-9.]+ +[0-9.]+ +[0-9.]+ +13$" <<<"$ev" && ok || bad "no per-class line for virginica: $ev"
grep -q "confusion matrix" <<<"$ev" && ok || bad "no confusion matrix: $ev"
tail -n 1 <<<"$ev" | grep -q '"classes":\[{"name":"setosa","precision":' && ok || bad "eval JSON lacks classes: $ev"
tail -n 1 <<<"$ev" | grep -qE '"confusion":\[\[[0-9]+,[0-9]+,[0-9]+\],' && ok || bad "eval JSON lacks the matrix: $ev"
grep -q "warning" <<<"$ev" && bad "eval of its own data warns: $ev" || ok
# the same rows in another column order, semicolons, CRLF and a BOM: the same figures
{ printf '\xef\xbb\xbf'; awk -F, 'BEGIN { OFS=";" } { print $5, $4, $3, $2, $1 "\r" }' "$TMP/iris.csv"; } > "$TMP/iris2.csv"
ev2=$("$BIN" eval "$TMP/iris.st" --data "$TMP/iris2.csv" --json 2>&1) || bad "eval of the reordered table failed: $ev2"
[ "$(tail -n 1 <<<"$ev2" | sed -E 's/.*"test_accuracy":([0-9.]+).*/\1/')" = "$acc" ] && ok || bad "reordered table: $ev2"
# bad tables: a clear message naming the row and column
expect 1 "no column named 'kind' \(the columns are 'sepal length', 'sepal width'" \
    "$BIN" train --data "$TMP/iris.csv" --target kind --epochs 1
expect 1 "needs --target COLUMN" "$BIN" train --data "$TMP/iris.csv" --epochs 1
sed '5s/^5.0,/abc,/' "$TMP/iris.csv" > "$TMP/bad.csv"
sed -n 5p "$TMP/bad.csv" | grep -q '^abc,' || sed -i '5s/^[^,]*,/abc,/' "$TMP/bad.csv"
expect 1 "bad.csv: line 5, column 'sepal length': 'abc' is not a number" \
    "$BIN" train --data "$TMP/bad.csv" --target species --epochs 1
sed '7s/^[^,]*,[^,]*,/4.6,,/' "$TMP/iris.csv" > "$TMP/gap.csv"
expect 1 "gap.csv: line 7, column 'sepal width': missing value .*--fill mean" \
    "$BIN" train --data "$TMP/gap.csv" --target species --epochs 1
expect 0 "1 missing values replaced by their column's mean" \
    "$BIN" train --data "$TMP/gap.csv" --target species --fill mean --epochs 1 --threads 1
sed '9s/,[a-z]*$//' "$TMP/iris.csv" > "$TMP/ragged.csv"
expect 1 "ragged.csv: line 9: 4 fields but the header has 5" "$BIN" train --data "$TMP/ragged.csv" --target species
cut -d, -f1-4 "$TMP/iris.csv" > "$TMP/numeric.csv"
expect 1 "is numeric, which asks for a regression.*--task classify" \
    "$BIN" train --data "$TMP/numeric.csv" --target "petal width" --epochs 1
expect 1 "line 2, column 'species': 'setosa' is not a number \(feature columns must be numeric\)" \
    "$BIN" train --data "$TMP/iris.csv" --target "petal width" --epochs 1

# --- pictures: Fashion-MNIST as PNG and JPEG class folders (train/ and test/)
"$EXPORT" --limit 200 "$FASHION" "$TMP/png" >/dev/null || bad "export to PNG failed"
"$EXPORT" --limit 200 --jpeg "$FASHION" "$TMP/jpg" >/dev/null || bad "export to JPEG failed"
[ "$(ls "$TMP/png/train" | wc -l)" = 10 ] && [ -f "$TMP/jpg/test/Trouser/00002.jpg" ] && ok || bad "export layout"
out=$("$BIN" train --data "$TMP/png" --model cnn --epochs 2 --threads 2 --seed 1 --out "$TMP/png.st" --json 2>&1) ||
    bad "train on a PNG folder failed: $out"
grep -q "data: pictures in .*png: 10 classes, 28x28, gray, 200 train / 200 test" <<<"$out" && ok || bad "folder summary: $out"
pacc=$(tail -n 1 <<<"$out" | sed -E 's/.*"test_accuracy":([0-9.]+).*/\1/')
awk -v a="$pacc" 'BEGIN { exit !(a >= 0.35) }' && ok || bad "PNG folder accuracy $pacc after 2 epochs on 200 pictures"
ev=$("$BIN" eval "$TMP/png.st" --confusion "$TMP/conf.png" --worst 3 --out "$TMP/worst" 2>&1) || bad "eval failed: $ev"
grep -qE "^Ankle_boot +" <<<"$ev" && ok || bad "no class names in eval: $ev"
[ -s "$TMP/conf.png" ] && ok || bad "no heatmap written"
[ "$(ls "$TMP/worst" | grep -c 'true-.*_pred-.*png$')" = 3 ] && ok || bad "--worst 3 --out: $(ls "$TMP/worst")"
# the JPEG copy decodes to nearly the same pictures: same classes, a warning that the test set differs
ev=$("$BIN" eval "$TMP/png.st" --data "$TMP/jpg" 2>&1) || bad "eval on the JPEG folder failed: $ev"
grep -q "warning: this is not the test set the model was trained with" <<<"$ev" && ok || bad "no mismatch warning: $ev"
# colour pictures, resized: the cnn's first convolution takes 3 channels
"$EXPORT" --limit 100 --colour --jpeg "$FASHION" "$TMP/col" >/dev/null || bad "colour export failed"
out=$("$BIN" train --data "$TMP/col" --model cnn --size 20 --resize crop --epochs 1 --threads 2 --out "$TMP/col.st" 2>&1) ||
    bad "train on colour pictures failed: $out"
grep -q "10 classes, 20x20, colour" <<<"$out" && grep -q "resized to 20x20" <<<"$out" && ok || bad "colour summary: $out"
"$BIN" eval "$TMP/col.st" >/dev/null 2>&1 && ok || bad "eval of the colour model"
# bad folders: a broken picture (named, or skipped with --skip-bad), an empty class, a single class
printf '\xff\xd8\xff\xe0broken' > "$TMP/png/train/Bag/broken.jpg"
expect 1 "png/train/Bag/broken.jpg: .*--skip-bad" "$BIN" train --data "$TMP/png" --epochs 1
expect 0 "1 picture could not be read and was skipped \(first: .*broken.jpg" \
    "$BIN" train --data "$TMP/png" --epochs 1 --skip-bad --threads 2
mkdir -p "$TMP/png/train/Empty"
expect 1 "png/train/Empty: an empty class folder" "$BIN" train --data "$TMP/png" --epochs 1 --skip-bad
mkdir -p "$TMP/one/only" && cp "$TMP/png/test/Bag/"*.png "$TMP/one/only/"
expect 1 "only one class folder \('only'\)" "$BIN" train --data "$TMP/one" --epochs 1
# --- shendu data: a table's columns, a folder's classes, sizes and broken files
out=$("$BIN" data "$TMP/gap.csv" --target species 2>&1) || bad "data on a table failed: $out"
grep -qE "^  sepal width +number +2 +4.4 +[0-9.]+ +1 " <<<"$out" && ok || bad "column line for sepal width: $out"
grep -qE "^  species +text " <<<"$out" && grep -qE "^  virginica +50$" <<<"$out" && ok || bad "target counts: $out"
head -n 111 "$TMP/iris.csv" > "$TMP/skewed.csv"
expect 0 "warning: the classes are imbalanced: 'setosa' has 50 examples, 'virginica' 10" \
    "$BIN" data "$TMP/skewed.csv" --target species
out=$("$BIN" data "$TMP/png" 2>&1) || bad "data on a folder failed: $out"
grep -q "^train: .*png/train: 20[0-9] pictures in 11 classes" <<<"$out" && ok || bad "folder summary: $out"
grep -q "broken: 1 picture cannot be read (first: .*broken.jpg" <<<"$out" && ok || bad "broken file: $out"
grep -q "warning: class 'Empty' has no pictures" <<<"$out" && ok || bad "empty class: $out"
grep -q "^sizes: 28x28 (200)" <<<"$out" && ok || bad "sizes: $out"

# --- validation split and early stopping keep the best epoch's weights
out=$("$BIN" train --data "$TMP/iris.csv" --target species --val 0.2 --early-stop 3 --epochs 200 --threads 1 \
      --out "$TMP/es.st" 2>&1) || bad "early stopping run failed: $out"
grep -q "validation: 24 of the training examples held out" <<<"$out" && ok || bad "no validation line: $out"
grep -qE "^epoch 1/200  train loss [0-9.]+  val loss [0-9.]+  val accuracy [0-9.]+%" <<<"$out" && ok || bad "epoch line: $out"
grep -q "early stop: no lower validation loss for 3 epochs" <<<"$out" && grep -q "kept the weights of epoch" <<<"$out" &&
    ok || bad "no early stop: $out"
expect 2 "--early-stop needs --val" "$BIN" train --data "$TMP/iris.csv" --target species --early-stop 3

# --- predict: table rows (with or without the target column) and pictures, to CSV
cut -d, -f1-4 "$TMP/iris.csv" | head -n 6 > "$TMP/rows.csv"
"$BIN" predict "$TMP/iris.st" "$TMP/rows.csv" --csv "$TMP/pred.csv" >/dev/null 2>&1 && ok || bad "predict rows"
head -n 1 "$TMP/pred.csv" | grep -qx 'sepal length,sepal width,petal length,petal width,predicted,p(setosa),p(versicolor),p(virginica)' &&
    ok || bad "prediction header: $(head -n 1 "$TMP/pred.csv")"
[ "$(grep -c ',setosa,' "$TMP/pred.csv")" = 5 ] && ok || bad "iris rows 1-5 are setosa: $(cat "$TMP/pred.csv")"
expect 0 "iris.csv line 2: setosa" "$BIN" predict "$TMP/iris.st" "$TMP/iris.csv"
"$BIN" predict "$TMP/png.st" "$TMP/png/test/Trouser" --csv "$TMP/pics.csv" --show-input "$TMP/seen" >/dev/null 2>&1 &&
    ok || bad "predict a folder"
[ "$(tail -n +2 "$TMP/pics.csv" | wc -l)" = "$(ls "$TMP/png/test/Trouser" | wc -l)" ] && ok || bad "one row per picture"
grep -q "^$TMP/png/test/Trouser/[0-9]*.png,Trouser," "$TMP/pics.csv" && ok || bad "trousers predicted: $(head -3 "$TMP/pics.csv")"
[ "$(ls "$TMP/seen" | wc -l)" = "$(ls "$TMP/png/test/Trouser" | wc -l)" ] && ok || bad "--show-input pictures"
# --json (issue 15, point 5: it printed nothing for these models): valid JSON, one object per
# row or picture, with the class names; the CSV's own lines go to stderr
"$BIN" predict "$TMP/iris.st" "$TMP/rows.csv" --json --top 2 --csv "$TMP/pred2.csv" >"$TMP/rows.json" 2>/dev/null \
    && ok || bad "predict rows --json"
python3 - "$TMP/rows.json" <<'PY' && ok || bad "predict --json on a table: $(cat "$TMP/rows.json")"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 5, rows
for i, r in enumerate(rows):
    assert r["table"].endswith("rows.csv") and r["line"] == i + 2 and len(r["top"]) == 2, r
    assert r["top"][0]["class"] == "setosa" and r["top"][0]["p"] >= r["top"][1]["p"], r
PY
cmp -s "$TMP/pred.csv" "$TMP/pred2.csv" && ok || bad "--json changed the CSV"
"$BIN" predict "$TMP/png.st" "$TMP/png/test/Trouser" --json >"$TMP/pics.json" 2>&1 && ok || bad "predict a folder --json"
python3 - "$TMP/pics.json" "$(ls "$TMP/png/test/Trouser" | wc -l)" <<'PY' && ok || bad "predict --json on pictures: $(head -3 "$TMP/pics.json")"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == int(sys.argv[2]), len(rows)
assert all(r["image"].endswith(".png") and len(r["top"]) == 3 for r in rows), rows[0]
assert sum(r["top"][0]["class"] == "Trouser" for r in rows) > len(rows) / 2, rows[0]
PY
# --csv is written by the shared atomic writer: a symlink is followed (its target replaced),
# an input given as --csv is refused before any work
ln -sf "$TMP/pred_target.csv" "$TMP/pred_link.csv"
"$BIN" predict "$TMP/iris.st" "$TMP/rows.csv" --csv "$TMP/pred_link.csv" >/dev/null 2>&1 && [ -L "$TMP/pred_link.csv" ] &&
    cmp -s "$TMP/pred.csv" "$TMP/pred_target.csv" && ok || bad "--csv through a symlink"
cp "$TMP/rows.csv" "$TMP/rows_keep.csv"
expect 1 "rows.csv" "$BIN" predict "$TMP/iris.st" "$TMP/rows.csv" --csv "$TMP/rows.csv"
cmp -s "$TMP/rows.csv" "$TMP/rows_keep.csv" && ok || bad "--csv replaced its input"
expect 1 "iris.st" "$BIN" predict "$TMP/iris.st" "$TMP/rows.csv" --csv "$TMP/iris.st"
bagpic=$(ls "$TMP/col/test/Bag" | head -n 1)
"$BIN" predict "$TMP/col.st" "$TMP/col/test/Bag/$bagpic" 2>&1 | grep -q "$bagpic: " && ok || bad "predict a colour JPEG at 20x20"
# --- inputs that disagree (issue 15): refused before any work, both sides named
# a test folder with a class the training folders do not have
rmdir "$TMP/png/train/Empty"
mkdir -p "$TMP/png/test/Hat" && cp "$TMP/png/test/Bag/"*.png "$TMP/png/test/Hat/"
expect 1 "png/test/Hat: the training set \(train/\) has no class 'Hat' \(its 10 classes: " \
    "$BIN" train --data "$TMP/png" --epochs 1 --skip-bad
expect 1 "png/test/Hat: the model has no class 'Hat' \(its 10 classes: Ankle_boot, Bag, " "$BIN" eval "$TMP/png.st"  --data "$TMP/png"
rm -r "$TMP/png/test/Hat"
# a table that lacks a column the model was trained on, or holds a class it does not know
cut -d, -f1,2,3,5 "$TMP/iris.csv" > "$TMP/three.csv"
expect 1 "three.csv: no column 'petal width', which the model was trained on" "$BIN" eval "$TMP/iris.st" --data "$TMP/three.csv"
sed '3s/,setosa$/,lily/' "$TMP/iris.csv" > "$TMP/lily.csv"
expect 1 "lily.csv: line 3, column 'species': 'lily' is not one of the model's 3 classes" \
    "$BIN" eval "$TMP/iris.st" --data "$TMP/lily.csv"
# a table model has no pictures to show
expect 1 "shows pictures, but .*iris.csv is a table of features" "$BIN" show "$TMP/iris.st" --out "$TMP/show"
# a checkpoint carries what the model file carries (features, statistics, classes, normalisation):
# eval of either gives the same figures
"$BIN" train --data "$TMP/iris.csv" --target species --epochs 5 --threads 1 --seed 3 --out "$TMP/ck.st" \
    --checkpoint "$TMP/ck.ckpt" >/dev/null 2>&1 || bad "train with a checkpoint"
a=$("$BIN" eval "$TMP/ck.st" 2>&1 | head -n 1 | sed 's/^[^:]*://'); b=$("$BIN" eval "$TMP/ck.ckpt" 2>&1 | head -n 1 | sed 's/^[^:]*://')
[ -n "$a" ] && [ "$a" = "$b" ] && ok || bad "eval of the table checkpoint ($b) differs from the model's ($a)"
a=$("$BIN" eval "$TMP/png.st" 2>&1 | grep "test accuracy" | sed 's/^[^:]*://')
"$BIN" train --data "$TMP/png" --model cnn --epochs 1 --threads 2 --seed 1 --out "$TMP/pk.st" --checkpoint "$TMP/pk.ckpt" \
    --skip-bad >/dev/null 2>&1 || bad "train a folder with a checkpoint"
a=$("$BIN" eval "$TMP/pk.st" 2>&1 | grep "test accuracy" | sed 's/^[^:]*://'); b=$("$BIN" eval "$TMP/pk.ckpt" 2>&1 | grep "test accuracy" | sed 's/^[^:]*://')
[ -n "$a" ] && [ "$a" = "$b" ] && ok || bad "eval of the folder checkpoint ($b) differs from the model's ($a)"
done_tests
