#!/bin/sh
# Run every tests/integration/test_*.py (python3 standard library only),
# each against the freshly built binaries in bin/, and print one closing
# line with the totals.  TALLY_TEST=name runs only matching files.
cd "$(dirname "$0")/../.." || exit 1
passed=0; failed=0; failures=""
for t in tests/integration/test_*.py; do
	case "$t" in *"${TALLY_TEST:-}"*) ;; *) continue ;; esac
	echo "integration: $t"
	if timeout 600 python3 "$t"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1)); failures="$failures $t"
	fi
done
[ -n "$failures" ] && echo "integration: failed:$failures"
echo "integration: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
