"""Shape metrics of one platform-process run: `python3 shape.py '{"model.mu_max": 0.045}'`
(--set overrides as JSON; DAILY=1 prints the trajectory day by day)."""
import csv, subprocess, sys, json, os, tempfile
ROOT=os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
BIN=os.environ.get('BIOTWIN', os.path.join(ROOT, 'target/release/biotwin'))
def run(sets, proc=os.path.join(ROOT, 'process-models/processes/cho-platform-3l.toml'), out=None, extra=()):
    out=out or os.path.join(tempfile.gettempdir(), f'biotwin-shape-{os.getpid()}.csv')
    cmd=[BIN,'simulate',proc,'--out',out,'--quiet']+list(extra)
    for k,v in sets.items(): cmd+=['--set',f'{k}={v}']
    p=subprocess.run(cmd,capture_output=True,text=True)
    if p.returncode!=0: print(p.stderr[-800:]); return None
    r=list(csv.DictReader(open(out)))
    return [{k:(float(v) if v!="" else float("nan")) for k,v in row.items()} for row in r], p.stdout
def metrics(rows):
    vcd=[r['xv_1e6_cells_per_ml'] for r in rows]; t=[r['time_h'] for r in rows]
    i=max(range(len(vcd)),key=lambda i:vcd[i])
    def at(h,k): return min(rows,key=lambda r:abs(r['time_h']-h))[k]
    lac=[r['lactate_g_per_l'] for r in rows]; j=max(range(len(lac)),key=lambda i:lac[i])
    e=rows[-1]
    return dict(peak_vcd=round(vcd[i],2),peak_day=round(t[i]/24,1),vcd_end=round(vcd[-1],2),
      via_d7=round(at(168,'viability_pct'),1),via_d10=round(at(240,'viability_pct'),1),via_end=round(e['viability_pct'],1),
      lac_peak=round(lac[j],2),lac_peak_day=round(t[j]/24,1),lac_end=round(e['lactate_g_per_l'],2),
      amm_max=round(max(r['ammonium_mm'] for r in rows),1),glc_min=round(min(r['glucose_g_per_l'] for r in rows[48:]),2),
      titer=round(e['titer_g_per_l'],2),gal=round(e['galactosylated_pct'],1),afuc=round(e['afucosylated_pct'],1),
      man5=round(e['high_mannose_pct'],1),acid=round(e['acidic_variants_pct'],1),hmw=round(e['hmw_pct'],2),
      hcp=round(e['hcp_mg_per_l'],0),osm_max=round(max(r['osmolality_mosm_per_kg'] for r in rows)),pco2_max=round(max(r['pco2_mmhg'] for r in rows)),
      vol_end=round(e['volume_l'],3), gln_min=round(min(r['glutamine_mm'] for r in rows),2))
def daily(rows,keys):
    for r in rows[::24]:
        print(int(r['time_h']/24), ' '.join(f"{k[:8]}={r[k]:.3g}" for k in keys))
if __name__=='__main__':
    sets=json.loads(sys.argv[1]) if len(sys.argv)>1 else {}
    rows,_=run(sets)
    print(metrics(rows))
    if os.environ.get('DAILY'): daily(rows,['xv_1e6_cells_per_ml','viability_pct','glucose_g_per_l','glutamine_mm','lactate_g_per_l','ammonium_mm','titer_g_per_l','mu_per_d','osmolality_mosm_per_kg','pco2_mmhg'])
