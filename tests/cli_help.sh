#!/usr/bin/env bash
# --help and README's synopsis cannot drift from the flag tables (issue 15,
# point 7): for every command, the flags `shendu CMD --help` prints (they come
# from the table the parser uses) and the flags README's "Command line" block
# lists for it are the same set; every value a README synopsis enumerates
# (--optim sgd|adam, --model mlp|cnn|ARCH, ...) is named in that flag's --help
# line and is accepted; and every flag --help lists is accepted by the parser.
. "$(dirname "$0")/lib_cli.sh"
README=${SHENDU_SOURCE:?run through ctest}/README.md
# The synopsis: the fenced block after "## Command line", entries joined with their continuation lines.
synopsis=$(awk '/^## Command line/ { on = 1; next } on && /^```sh/ { inb = 1; next } inb && /^```/ { exit }
                inb && /^shendu / { if (e) print e; e = $0; next } inb { e = e " " $0 } END { if (e) print e }' "$README")
[ -n "$synopsis" ] && ok || bad "no synopsis block found in README"
cmds=("train" "eval" "predict" "show" "explain" "lm train" "lm sample" "gan" "gan sample" "gan score"
      "rl solve" "rl qlearn" "rl dqn" "rl play" "plot" "export" "data" "diffusion" "diffusion sample"
      "diffusion score" "explain diffusion")
# the entries of command C: those starting "shendu C " and not a longer command's
entries() {
    local c=$1 other
    while IFS= read -r line; do
        [[ "$line" == "shendu $c "* ]] || continue
        for other in "${cmds[@]}"; do
            [ ${#other} -gt ${#c} ] && [[ "$other" == "$c "* ]] && [[ "$line" == "shendu $other "* ]] && continue 2
        done
        echo "$line"
    done <<<"$synopsis"
}
for c in "${cmds[@]}"; do
    # shellcheck disable=SC2086
    help=$("$BIN" $c --help 2>&1) || { bad "shendu $c --help failed: $help"; continue; }
    from_help=$(grep -oE '^  --[a-z0-9-]+' <<<"$help" | tr -d ' ' | grep -vx -- --help | sort -u)
    ent=$(entries "$c")
    [ -n "$ent" ] && ok || { bad "README's synopsis has no line for 'shendu $c'"; continue; }
    from_readme=$(grep -oE -- '--[a-z0-9-]+' <<<"$ent" | grep -vx -- --help | sort -u)
    missing=$(comm -23 <(echo "$from_help") <(echo "$from_readme") | tr '\n' ' ')
    extra=$(comm -13 <(echo "$from_help") <(echo "$from_readme") | tr '\n' ' ')
    [ -z "$missing" ] && ok || bad "README's synopsis of 'shendu $c' lacks $missing(in --help)"
    [ -z "$extra" ] && ok || bad "README's synopsis of 'shendu $c' lists $extra(not in --help: not accepted)"
    # enumerated values: each named in the flag's --help line
    while read -r flag values; do
        [ -n "$flag" ] || continue
        line=$(grep -E -- "^  $flag " <<<"$help")
        for v in ${values//|/ }; do
            [[ "$v" =~ ^[a-z][a-z0-9-]*$ ]] || continue   # FILE, ARCH, DIR: placeholders
            grep -qw -- "$v" <<<"$line" && ok || bad "shendu $c --help: $flag does not name '$v' (README lists $values): $line"
        done
    done < <(grep -oE -- '--[a-z0-9-]+ [a-zA-Z0-9.-]+(\|[a-zA-Z0-9.-]+)+' <<<"$ent" | sed 's/ / /')
done
# presets named in the synopsis are really presets
for p in $(grep -oE -- '--model [a-z|]+' <<<"$synopsis" | head -1 | sed 's/--model //; s/|/ /g'); do
    expect 0 "total parameters" "$BIN" explain shapes --model "$p"
done
# the subcommand lists of 'shendu lm --help' and 'shendu rl --help' name every subcommand of the table above
for c in lm rl gan diffusion; do
    help=$("$BIN" $c --help 2>&1)
    for sub in "${cmds[@]}"; do
        [[ "$sub" == "$c "* ]] || continue
        grep -qw -- "${sub#* }" <<<"$help" && ok || bad "shendu $c --help does not name '${sub#* }'"
    done
done
done_tests
