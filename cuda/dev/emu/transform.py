# Turns cuda/*.cu into host C++ for the emulator: includes emu.h, maps dynamic shared memory to
# emu::dyn_smem(), rewrites kernel<<<grid, block, smem, stream>>>(args) into emu::launch(...) on that stream, and swaps
# CUB for fakecub.h and nvcuda::wmma (<mma.h>) for fakewmma.h.   usage: transform.py <cuda dir> <out dir>
import re, sys, os
src_dir, out_dir = sys.argv[1], sys.argv[2]
def split_top(s):
    parts, depth, cur = [], 0, ''
    for ch in s:
        if ch in '(<[': depth += 1
        if ch in ')>]': depth -= 1
        if ch == ',' and depth == 0:
            parts.append(cur.strip()); cur = ''
        else:
            cur += ch
    parts.append(cur.strip())
    return parts
for f in os.listdir(src_dir):
    if not f.endswith('.cu'): continue
    s = open(os.path.join(src_dir, f)).read()
    s = s.replace('#include "common.cuh"', '#include "emu.h"\n#include "common.cuh"')
    s = s.replace('#include <cub/device/device_radix_sort.cuh>', '#include "fakecub.h"')
    s = s.replace('#include <mma.h>', '#include "fakewmma.h"')
    s = re.sub(r'extern __shared__ (?:__align__\(\d+\) )?([\w ]+?) (\w+)\[\];', r'\1* \2 = (\1*)emu::dyn_smem();', s)
    def launch(m):
        k, cfg, args = m.group(1), m.group(2), m.group(3)
        p = split_top(cfg)
        while len(p) < 4: p.append('0')
        return 'emu::launch((const void*)%s, emu::d3(%s), emu::d3(%s), %s, (cudaStream_t)(%s), [=]{ %s(%s); });' % (
            k, p[0], p[1], p[2], p[3], k, args)
    s, n = re.subn(r'(\w+(?:<[\w:<>, ]*?>)?)<<<(.+?)>>>\((.*?)\);', launch, s, flags=re.S)
    open(os.path.join(out_dir, f[:-3] + '.cpp'), 'w').write(s)
    print(f, n, 'launches')
