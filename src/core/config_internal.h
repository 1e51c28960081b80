/* The config's key table (config_keys.c), shared by config.c; not installed. */
#ifndef FESF_CONFIG_INTERNAL_H
#define FESF_CONFIG_INTERNAL_H

#include <stddef.h>

typedef enum { T_INT, T_AUTO_INT, T_I64, T_U64, T_DOUBLE, T_AUTO_DOUBLE, T_BOOL, T_ENUM, T_STRING, T_PUBLIC, T_LIST } key_type;

typedef struct {
    const char *section, *name;
    key_type type;
    size_t offset, size;          /* storage inside fesf_config */
    const char *def;              /* default, as text */
    double min, max;              /* numeric range (inclusive) */
    const char *const *choices;   /* T_ENUM: NULL-terminated */
    const char *doc;
} key_desc;

extern const key_desc fesf_config_keys[];
extern const int fesf_config_nkeys;

#endif
