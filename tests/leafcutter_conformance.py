"""Differential check: random junction sets through LeafCutter's own script and through
kgpex.splicing.clusters; the perind.counts.gz texts must be identical.

usage: python diff_check.py N_TRIALS PATH/TO/leafcutter_cluster_regtools.py
(get the script with: git -C /work/.mirror/davidaknowles+leafcutter/repo show
 2c9907e:clustering/leafcutter_cluster_regtools.py > /some/tmp/lc.py). LeafCutter's merge step
leaves tempfile.mktemp() folders behind, so TMPDIR is pointed at a folder here and removed."""
import gzip
import os
import random
import subprocess
import sys
import tempfile

from kgpex.splicing.clusters import cluster, count_per_library, library_name, parse_junc, pool, refine

HERE = os.path.dirname(os.path.abspath(__file__))
LC = os.path.abspath(sys.argv[2])

def line(chrom, strand, s, e, n, bc=2):
    l, r = random.randint(8, 40), random.randint(8, 40)
    cs, ce = s - l, e + r - 1
    sizes = f"{l},{r}" if bc == 2 else f"{l},3,{r}"
    return f"{chrom}\t{cs}\t{ce}\tJ\t{n}\t{strand}\t{cs}\t{ce}\t255,0,0\t{bc}\t{sizes}\t0,{ce-r-cs}\n"

def trial(seed, d):
    random.seed(seed)
    sites = sorted(random.sample(range(1000, 1000 + random.choice([300, 3000, 600000])), random.randint(4, 16)))
    chroms = random.sample(["chr1", "chr2", "chrX", "7", "chrUn_KI270742v1"], 3)
    nlib = random.randint(1, 4)
    paths = []
    for k in range(nlib):
        lines = []
        for _ in range(random.randint(0, 120)):
            s, e = sorted(random.sample(sites, 2))
            n = random.choice([1, 2, 3, 5, 20, 40, 49, 50, 60, 200, 1000, 30000])
            strand = random.choice("++--?")
            bc = 3 if random.random() < 0.05 else 2
            lines.append(line(random.choice(chroms), strand, s, e, n, bc))
        p = os.path.join(d, f"L{k}.Aligned.sortedByCoord.out.bam.junc")
        with open(p, "w") as fh:
            fh.writelines(lines)
        paths.append(p)
    m = random.choice([50, 50, 30, 100])
    lmax = random.choice([500000, 100000, 1000])
    ratio = random.choice([0.001, 0.05, 0.2])
    lst = os.path.join(d, "list.txt")
    with open(lst, "w") as fh:
        fh.write("\n".join(paths) + "\n")
    run = os.path.join(d, "run"); os.mkdir(run)
    env = dict(os.environ, TMPDIR=os.path.join(d, "lc_tmp"))
    os.mkdir(env["TMPDIR"])
    subprocess.run([sys.executable, LC, "-j", lst, "-m", str(m), "-l", str(lmax), "-p", str(ratio),
                    "-o", "t", "-r", run, "-q"], check=True, capture_output=True, env=env)
    with gzip.open(os.path.join(run, "t_perind.counts.gz"), "rt") as fh:
        want = fh.read()
    libs = {library_name(p): parse_junc(p) for p in paths}
    rows = count_per_library(refine(cluster(pool(libs, max_intron=lmax)), m, ratio), libs)
    got = "chrom " + " ".join(libs) + "\n" + "".join(r.intron_id + " " + " ".join(r.fields()) + "\n" for r in rows)
    init = cluster(pool(libs, max_intron=lmax))
    fin = refine(init, m, ratio)
    changed = sorted(map(repr, init)) != sorted(map(repr, fin))
    STATS["changed"] += changed
    STATS["multi"] += len(fin) > len(init)
    return want == got, want, got, len(rows)

STATS = {"changed": 0, "multi": 0}
n_ok = n_rows = 0
N = int(sys.argv[1])
for seed in range(N):
    with tempfile.TemporaryDirectory(dir=HERE) as d:
        ok, want, got, nr = trial(seed, d)
    if not ok:
        print("MISMATCH seed", seed); print(want); print(got); break
    n_ok += 1; n_rows += nr
print(f"{n_ok}/{N} identical, {n_rows} rows compared", STATS)
