#!/bin/sh
# Regenerate and compile the apps' own catalogs: the Python strings (domain django) and the static
# scripts' gettext() strings (domain djangojs) of every app that has a locale/ directory.
# makemessages runs inside each app, so only that app's files land in its catalog; the templates'
# strings belong to the root locale/ and are not touched here.
#   scripts/app_messages.sh            extract, merge and compile (then translate the new entries)
#   LANGS="zh_Hans" PYTHON=python3 scripts/app_messages.sh
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
python=${PYTHON:-$root/.venv/bin/python}
langs=${LANGS:-zh_Hans}
for locale in */locale; do
    app=${locale%/locale}
    [ -f "$app/__init__.py" ] || continue
    for lang in $langs; do
        (cd "$app" && "$python" "$root/manage.py" makemessages --locale "$lang" --no-obsolete --add-location file)
        if find "$app" -path '*/static/*' -name '*.js' | grep -q .; then
            (cd "$app" && "$python" "$root/manage.py" makemessages --domain djangojs --locale "$lang" \
                --no-obsolete --add-location file)
        fi
    done
    (cd "$app" && "$python" "$root/manage.py" compilemessages)
done
