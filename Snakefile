# kgpex: 1000 Genomes RNA-seq -> MAGE-style expression matrices and cis-eQTL results.
# The stages live in workflow/rules/, their logic in src/kgpex/<stage>/ (plumbing: kgpex.common).
# Each rule file reads only names defined by itself or by a file included before it
# (tests/test_rule_order.py); rule all's targets are collected last (provenance.smk).
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


# The report's start page: what the run is and where to look first (make report).
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/paths.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/preflight.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/samples.smk"
include: "workflow/rules/reference.smk"
include: "workflow/rules/quantify.smk"
include: "workflow/rules/alignment.smk"
include: "workflow/rules/identity.smk"
include: "workflow/rules/splicing.smk"
include: "workflow/rules/expression.smk"
include: "workflow/rules/matrix_input.smk"
include: "workflow/rules/genotypes.smk"
include: "workflow/rules/covariates.smk"
include: "workflow/rules/eqtl.smk"
include: "workflow/rules/fastqtl.smk"
include: "workflow/rules/sqtl.smk"
include: "workflow/rules/effect_sizes.smk"
include: "workflow/rules/qc.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/provenance.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
