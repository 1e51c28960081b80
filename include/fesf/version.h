/* Version of fesf and of its file formats. */
#ifndef FESF_VERSION_H
#define FESF_VERSION_H

#define FESF_VERSION "0.1.0"

/* File format versions (root attribute `version`); a reader refuses others. */
#define FESF_SHARD_VERSION 1
#define FESF_HOSTS_VERSION 1
#define FESF_MODEL_VERSION 1

#endif
