#!/usr/bin/env python3
"""Fails when the modules of a crate import each other in a cycle.

For each `src` directory given: the module-level graph of `src/*.rs` (a module depends
on another when its code outside `#[cfg(test)] mod tests` names `crate::other`), and
every cycle in it. Exit status 1 when any cycle is found.
"""
import re, sys, glob, os
def graph(src):
    mods={os.path.basename(f)[:-3]:f for f in glob.glob(src+'/*.rs') if not f.endswith(('lib.rs','main.rs'))}
    g={}
    for m,f in mods.items():
        s=open(f).read()
        i=s.find('#[cfg(test)]\nmod tests')
        if i>=0: s=s[:i]
        s='\n'.join(l for l in s.split('\n') if not l.strip().startswith('//'))
        deps=set(re.findall(r'crate::([a-z_]+)',s)) | set(x for grp in re.findall(r'use crate::\{([^}]*)\}',s) for x in re.findall(r'\b([a-z_]+)::',grp))
        g[m]={d for d in deps if d in mods and d!=m}
    return g
def cycles(g):
    out=[];
    def dfs(n,path,seen):
        for d in g[n]:
            if d==path[0]: out.append(path+[d])
            elif d not in path and d>path[0]: dfs(d,path+[d],seen)
    for n in sorted(g): dfs(n,[n],set())
    return out
found = False
for src in sys.argv[1:]:
    c = cycles(graph(src))
    found = found or bool(c)
    print(src, 'import cycles:', ', '.join(' -> '.join(x) for x in c) or 'none')
sys.exit(1 if found else 0)
