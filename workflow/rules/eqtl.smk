def eqtl_outputs():
    return []
