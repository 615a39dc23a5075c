"""Random search over the assumed platform parameters, scored only against
the published shape ranges (score below). `START=x.json STEP=0.1 python3
search.py SEED N`; writes bestSEED.json. See README.md for how 2.0.0 was
reached."""
import json, math, random, sys, os
from shape import run, metrics
base={"media.feed_a.glutamine_mm":30,"initial.glutamine_mm":4,"model.Y_x_gln":3e9,"model.KI_lac":150,"model.KI_amm":25,"model.k_d":0.0003,"model.q_lac_max":4e-11,"model.Y_lac_glc":1.0,"model.mu_max":0.043,"model.m_glc":3e-11,"model.Osm_0":340,"model.K_osm":250,"model.k_d_amm":0.02,"model.KD_amm":30,"model.beta_lp":28,"model.afuc_ref":6,"model.man5_ref":3,"model.k_lys":0.004,"model.m_gln":5e-12,"model.n_d_amm":3}
bounds={"media.feed_a.glutamine_mm":(10,60),"initial.glutamine_mm":(2,8),"model.Y_x_gln":(1e9,5e9),"model.KI_lac":(40,300),"model.KI_amm":(24.99,25.01),"model.k_d":(1e-4,2e-3),"model.q_lac_max":(1e-11,1e-10),"model.Y_lac_glc":(0.6,1.8),"model.mu_max":(0.03,0.05),"model.m_glc":(1e-11,8e-11),"model.Osm_0":(300,380),"model.K_osm":(100,500),"model.k_d_amm":(0.002,0.1),"model.KD_amm":(3,40),"model.beta_lp":(10,60),"model.afuc_ref":(3,12),"model.man5_ref":(1.5,8),"model.k_lys":(0.001,0.03),"model.m_gln":(1e-12,2e-11),"model.n_d_amm":(1,6)}
def pen(x,lo,hi,w=1.0):
    if x<lo: return w*((lo-x)/max(abs(lo),1e-9))**2
    if x>hi: return w*((x-hi)/max(abs(hi),1e-9))**2
    return 0.0
def score(m):
    s=0
    s+=pen(m['peak_vcd'],17,22,10)+pen(m['peak_day'],7.5,8.5,10)
    s+=pen(m['via_d7'],95,100,60)+pen(m['via_d10'],90,96,60)+pen(m['via_end'],65,82,5)
    s+=pen(m['vcd_end']/m['peak_vcd'],0.55,0.8,10)
    s+=pen(m['lac_peak'],2.0,3.5,5)+pen(m['lac_end'],0,1.0,2)+pen(m['lac_peak_day'],4,7,2)
    s+=pen(m['amm_max'],4,8.5,10)+pen(m['titer'],4,5.5,10)+pen(m['glc_min'],1.5,20,10)
    s+=pen(m['afuc'],5,10,1)+pen(m['man5'],2,6,1)+pen(m['gal'],20,45,1)+pen(m['osm_max'],300,430,5)+pen(m['acid'],15,30,1)
    return s
def ev(p):
    r=run(p)
    if r is None: return 1e9,None
    m=metrics(r[0]); return score(m),m
random.seed(int(sys.argv[1]) if len(sys.argv)>1 else 1)
import os
if os.environ.get('START'): base.update(json.load(open(os.environ['START'])))
cur=dict(base); best,bm=ev(cur)
print(best,bm,flush=True)
n=int(sys.argv[2]) if len(sys.argv)>2 else 600
step=float(os.environ.get('STEP','0.3'))
for it in range(n):
    cand=dict(cur)
    for k in random.sample(list(bounds),3):
        lo,hi=bounds[k]
        v=cand[k]*math.exp(random.gauss(0,step))
        cand[k]=min(hi,max(lo,v))
    s,m=ev(cand)
    if s<best:
        best,cur,bm=s,cand,m
        print(it,round(best,4),bm,flush=True)
    if it%200==199: step*=0.7
print(json.dumps(cur))
json.dump(cur,open(f'best{sys.argv[1] if len(sys.argv)>1 else 1}.json','w'))
