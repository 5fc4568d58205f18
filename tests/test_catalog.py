import pytest

from analysis.catalog import GIB, candidates, load_catalog
from rcapcore.errors import BadInput


def test_every_row_cites_a_source_and_rules_match_vendors():
    cat = load_catalog()
    assert len(cat) > 20 and all(it.source.startswith("https://") for it in cat)
    by = {(it.service, it.name): it for it in cat}
    assert by[("elasticache", "cache.r7g.large")].usable_memory_fraction == 0.75  # reserved-memory-percent 25 %
    assert by[("cache-for-redis", "Premium P1")].usable_memory_fraction == 0.8  # 10 % + 10 %
    assert by[("memorystore-cluster", "redis-highmem-medium")].usable_memory_bytes == pytest.approx(10.4 * GIB)


def test_candidates_pick_the_smallest_fit_and_skip_cluster_only():
    cat = load_catalog()
    picks = {(c.provider, c.service): c for c in candidates(cat, 9 * GIB, 14 * GIB)}
    assert picks[("aws", "elasticache")].name == "cache.m7g.xlarge"  # 12.93 × 0.75 = 9.7 GiB ≥ 9; r7g.large is 13.07
    assert picks[("aws", "ec2")].name == "r6i.large"  # 16 GiB RAM ≥ 14
    assert ("gcp", "memorystore-cluster") not in picks
    assert ("gcp", "memorystore-cluster") in {(c.provider, c.service) for c in
                                              candidates(cat, 9 * GIB, 14 * GIB, single_shard=False)}


def test_bad_catalog_names_file_and_line(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text("provider,service,name,vcpu,memory_gib,network_gbps,usable_memory_fraction,cluster_only,source\n"
                 "aws,ec2,x,2,lots,10,,false,https://example.org\n")
    with pytest.raises(BadInput, match=r"c\.csv:2: column memory_gib"):
        load_catalog(p)
