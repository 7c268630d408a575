#!/usr/bin/env python3
# layers.py -- the layer graph of mini-crm, checked over every #include of src/ and include/crm/
#
# This table is the one place that says which module belongs to which layer and which layers
# it may include. meson.build builds static libraries crm_<layer>[_<part>] per layer (giving libpq,
# json-c and libfcgi only to the library that may use them); this test checks that every source
# it lists is in the library of its layer. A module is a file stem: src/<m>.c, src/<m>.h (private
# to its layer) and include/crm/<m>.h. The test fails when
#   - a file includes a header of a layer that its own layer may not include,
#   - a private header (src/*.h) is included from another layer,
#   - a third-party header is included outside the files that own it,
#   - a source or header belongs to no layer, or a quoted include names no file of the tree,
#   - meson.build compiles a source into another layer's library (the executable counts as the
#     process layer), or does not compile it at all,
#   - a file of sql/ or sql/functions/ is not among the migrations meson.build embeds.
# Usage: layers.py SOURCE_ROOT        (run by meson as the unit test "layers")
import fnmatch
import os
import re
import sys

# layer: (modules, layers it may include besides itself), from the bottom up
LAYERS = {
    'core': (['err', 'arena', 'buf', 'log', 'util', 'metrics'], []),
    'domain': (['domain', 'email', 'schedule', 'secret', 'simulate'], ['core']),
    'json': (['json', 'json_*'], ['core']),
    'pg': (['pg', 'pg_*'], ['core', 'domain']),
    'service': (['service', 'service_*'], ['core', 'domain', 'pg']),
    'http': (['http', 'schema'], ['core', 'domain', 'json']),
    'handlers': (['routes', 'handlers', 'handlers_*'], ['core', 'domain', 'json', 'http', 'service']),
    'process': (['main', 'cli', 'config', 'proc', 'master', 'drainer', 'fcgi'], ['core', 'http', 'handlers', 'service']),
}

# third-party header (fnmatch pattern) -> files that may include it (fnmatch patterns)
THIRD_PARTY = {
    'libpq-fe.h': ['src/pg*.c', 'src/pg_internal.h'],
    'libpq/*': ['src/pg*.c', 'src/pg_internal.h'],
    'postgres_ext.h': ['src/pg*.c', 'src/pg_internal.h'],
    'json.h': ['src/json.c'],
    'json-c/*': ['src/json.c'],
    'json_*.h': ['src/json.c'],
    'linkhash.h': ['src/json.c'],
    'arraylist.h': ['src/json.c'],
    'printbuf.h': ['src/json.c'],
    'idn2.h': ['src/email.c'],
    'unistr.h': ['src/email.c'],
    'uninorm.h': ['src/email.c'],
    'unicase.h': ['src/email.c'],
    'unictype.h': ['src/email.c'],
    'unitypes.h': ['src/email.c'],
    'uniconv.h': ['src/email.c'],
    'unigbrk.h': ['src/email.c'],
    'uniwbrk.h': ['src/email.c'],
    'unilbrk.h': ['src/email.c'],
    'uniwidth.h': ['src/email.c'],
    'uniname.h': ['src/email.c'],
    'unistdio.h': ['src/email.c'],
    'unistring/*': ['src/email.c'],
    'openssl/*': ['src/secret.c'],
    'fcgiapp.h': ['src/fcgi.c'],
    'fcgi_stdio.h': ['src/fcgi.c'],
    'fcgio.h': ['src/fcgi.c'],
    'fcgios.h': ['src/fcgi.c'],
    'fcgi_config.h': ['src/fcgi.c'],
    'fastcgi.h': ['src/fcgi.c'],
}

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def layer_of(module):
    for name, (modules, _) in LAYERS.items():
        if any(fnmatch.fnmatchcase(module, m) for m in modules):
            return name
    return None


def module_of(path):
    return os.path.splitext(os.path.basename(path))[0]


def check_file(root, rel, errors):
    layer = layer_of(module_of(rel))
    if layer is None:
        errors.append(f'{rel}: belongs to no layer (add its module to LAYERS in tests/layers.py)')
        return
    allowed = {layer, *LAYERS[layer][1]}
    with open(os.path.join(root, rel), encoding='utf-8') as f:
        text = f.read()
    for m in INCLUDE.finditer(text):
        kind, name = m.group(1), m.group(2)
        line = text.count('\n', 0, m.start()) + 1
        where = f'{rel}:{line}: #include {kind}{name}{">" if kind == "<" else kind}'
        if kind == '<':
            owners = [o for pat, o in THIRD_PARTY.items() if fnmatch.fnmatchcase(name, pat)]
            if owners and not any(fnmatch.fnmatchcase(rel, o) for o in owners[0]):
                errors.append(f'{where}: a third-party header only {", ".join(owners[0])} may include')
            continue
        if name.startswith('crm/'):
            target = os.path.join('include', name)
        else:
            target = os.path.join(os.path.dirname(rel), name)
        if not os.path.isfile(os.path.join(root, target)):
            errors.append(f'{where}: no such file in the tree')
            continue
        target_layer = layer_of(module_of(target))
        if target_layer is None:
            errors.append(f'{where}: {target} belongs to no layer')
        elif target_layer not in allowed:
            errors.append(f'{where}: layer {layer} may not include layer {target_layer} '
                          f'(allowed: {", ".join(sorted(allowed))})')
        elif not name.startswith('crm/') and target_layer != layer:
            errors.append(f'{where}: a private header of layer {target_layer}')


# a target's call runs to the first blank line (the layout of meson.build)
TARGET = re.compile(r"(static_library|executable)\(\s*'([^']+)'(.*?)\n\s*\n", re.S)


def check_meson(root, sources, errors):
    with open(os.path.join(root, 'meson.build'), encoding='utf-8') as f:
        text = f.read()
    built = set()
    for kind, name, body in TARGET.findall(text):
        if kind == 'executable':
            want = 'process'
        elif name.startswith('crm_') and name[4:].split('_')[0] in LAYERS:
            want = name[4:].split('_')[0]  # crm_<layer> or crm_<layer>_<part>
        else:
            errors.append(f'meson.build: library {name} is no layer (crm_<layer>[_<part>] of tests/layers.py)')
            continue
        for src in re.findall(r"'(src/[^']+\.c)'", body):
            built.add(src)
            layer = layer_of(module_of(src))
            if layer != want:
                errors.append(f'meson.build: {src} (layer {layer}) is built into {name} (layer {want})')
    for src in sources:
        if src not in built:
            errors.append(f'meson.build: {src} is built into no library of a layer')
    # every migration and function file is embedded in the binary (a file left out would never
    # reach a database, and nothing else would notice)
    embedded = set(re.findall(r"'(sql/[^']+\.sql)'", text))
    for d in ('sql', os.path.join('sql', 'functions')):
        for f in sorted(os.listdir(os.path.join(root, d))):
            rel = f'{d}/{f}'
            if f.endswith('.sql') and rel not in embedded:
                errors.append(f'meson.build: {rel} is not in the migrations embedded in the binary')


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..')
    files = []
    for d, exts in (('src', ('.c', '.h')), (os.path.join('include', 'crm'), ('.h',))):
        files += sorted(os.path.join(d, f) for f in os.listdir(os.path.join(root, d)) if f.endswith(exts))
    errors = []
    for rel in files:
        check_file(root, rel, errors)
    check_meson(root, [f for f in files if f.endswith('.c')], errors)
    for e in errors:
        print(e)
    print(f'layers: {len(files)} files checked, {len(errors)} violations')
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
