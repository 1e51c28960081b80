/* Fuzz harness: the config loader (libinih through src/core/ini.c, every
 * key's parser and range check, fesf_config_finish). Any input must give 0
 * or -1 with a message, never a crash or a sanitizer report. */
#include "fuzz_common.h"

#include "fesf/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fesf_config cfg;
    fesf_config_defaults(&cfg);
    if (fesf_config_load(&cfg, fuzz_file(data, size, ".ini")) == 0) fesf_config_finish(&cfg);
    return 0;
}
