# lua2c.awk: one state script (common/lua/NAME.lua) as the C string
# cs_lua_NAME, built into the library by the Makefile (and tests/fuzz/fuzz.mk):
#
#   awk -v name=NAME -f common/lua/lua2c.awk common/lua/NAME.lua > NAME.c
#
# The script text sent to Redis is the file's lines less its comments:
# every line whose first non-blank characters are "--" and every blank line
# is left out (a comment after code on the same line is sent as it is: keep
# comments on lines of their own).  A line
#
#   -- #include "part.lua"
#
# is replaced by the lines of common/lua/part.lua (the directory of the
# script including it), treated the same way: a part shared by several
# scripts, written once.  Plain POSIX awk (mawk, gawk, busybox).

function cquote(s,    n, parts, i, out) {
    # Backslashes first, then double quotes (split on a one-character
    # string is literal; gsub's replacement escaping differs between awks).
    n = split(s, parts, "\\")
    out = parts[1]
    for (i = 2; i <= n; i++)
        out = out "\\\\" parts[i]
    n = split(out, parts, "\"")
    out = parts[1]
    for (i = 2; i <= n; i++)
        out = out "\\\"" parts[i]
    return out
}

function emit(file, depth,    line, inc, rc) {
    if (depth > 8) {
        print "lua2c: " file ": includes nested too deep" > "/dev/stderr"
        exit 1
    }
    while ((rc = (getline line < file)) > 0) {
        if (line ~ /^[ \t]*--[ \t]*#include[ \t]+"[^"]+"[ \t]*$/) {
            inc = line
            sub(/^[^"]*"/, "", inc)
            sub(/".*$/, "", inc)
            emit(dir "/" inc, depth + 1)
            continue
        }
        if (line ~ /^[ \t]*--/ || line ~ /^[ \t]*$/)
            continue
        printf "    \"%s\\n\"\n", cquote(line)
    }
    if (rc < 0) {
        print "lua2c: cannot read " file > "/dev/stderr"
        exit 1
    }
    close(file)
}

BEGIN {
    if (name == "" || ARGC != 2) {
        print "usage: awk -v name=NAME -f lua2c.awk DIR/NAME.lua" > "/dev/stderr"
        exit 2
    }
    src = ARGV[1]
    dir = src
    if (!sub(/\/[^\/]*$/, "", dir))
        dir = "."
    printf "/* Generated from %s by common/lua/lua2c.awk: edit the .lua file. */\n", src
    printf "const char cs_lua_%s[] =\n", name
    emit(src, 0)
    print "    \"\";"
    exit 0
}
