#!/usr/bin/env bash
# Refreshes every translation catalog from the code, then compiles them (.mo files are committed: running
# the portal or CI needs no gettext). Needs GNU gettext (Debian: apt-get install gettext).
#
#   bash scripts/messages.sh            # update every existing language of every catalog
#   bash scripts/messages.sh -l ja      # or start/update one language
#
# makemessages files a string in the nearest locale/ directory above its source file, so:
# - the project catalog, locale/, holds the console templates (templates/), read as .html/.txt only;
# - each app (or package) with its own <app>/locale/ holds its Python strings (and its .js strings when it
#   has a djangojs catalog), refreshed from inside that directory.
# Then translate every new or changed entry (no "#, fuzzy", no empty msgstr: tests/i18n checks) and run
# this again to compile.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3
LANGUAGE_OPTIONS=("$@")
[ ${#LANGUAGE_OPTIONS[@]} -gt 0 ] || LANGUAGE_OPTIONS=(--all)
OPTIONS=("${LANGUAGE_OPTIONS[@]}" --no-obsolete --add-location=file)

echo "== locale/ (templates)"
"$PYTHON" manage.py makemessages "${OPTIONS[@]}" --extension=html,txt \
    --ignore='*.egg-info' --ignore=tests --ignore=bench --ignore=scripts --ignore=var --ignore='var-*'

for locale_dir in */locale; do
    [ -d "$locale_dir" ] || continue
    package=${locale_dir%/locale}
    echo "== $locale_dir"
    (cd "$package" && "$PYTHON" "$ROOT/manage.py" makemessages "${OPTIONS[@]}" --ignore=tests --ignore=migrations)
    if compgen -G "$locale_dir/*/LC_MESSAGES/djangojs.po" > /dev/null; then
        (cd "$package" && "$PYTHON" "$ROOT/manage.py" makemessages "${OPTIONS[@]}" --domain=djangojs)
    fi
done

echo "== compile"
"$PYTHON" manage.py compilemessages --ignore=.venv --ignore='.venv-*' --ignore=var --ignore='var-*' --ignore='*.egg-info'
