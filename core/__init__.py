"""The ground floor every stage stands on; it imports no stage and never TensorFlow.

Errors, atomic files, progress, the manifest, the tables of formats, precisions, backends and
tasks, image reading and the TensorFlow-free data sources (folders, arrays, IDX, video, series,
the built-in datasets' readers).
"""
