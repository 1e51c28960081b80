/* The CSV of a folder source (png:, nifti:, dicom:): lines
 * `file,label[,split][,site]` (file relative to the folder, split
 * train|val|test, default train; blank lines are skipped). An optional
 * header line names the columns: file and label first (any names), then
 * `split` and/or `site` in either order; a site column gives each item its
 * site id 1..N. A UTF-8 byte order mark is skipped. Every listed file is
 * checked at parse time (internal to src/io). */
#ifndef FESF_IO_LABELS_CSV_H
#define FESF_IO_LABELS_CSV_H

#include "fesf/dataset.h"

#include <stdint.h>

/* The items of one split, in CSV order. */
typedef struct {
    char **path;     /* full paths (DIR/file, or file if absolute), owned */
    int32_t *label;
    int32_t *site;   /* site ids (0 when the CSV has no site column) */
    int64_t n, cap;
} fesf_item_list;

/* What a CSV's `file` must be. */
typedef enum {
    FESF_CSV_FILE = 0,   /* a readable regular file */
    FESF_CSV_FILE_FRAME, /* the same, with an optional `#T` suffix (not part of the file name) */
    FESF_CSV_ANY         /* a readable file or folder */
} fesf_csv_kind;

typedef struct {
    fesf_item_list list[FESF_NSPLITS];
    const char *first;       /* path of the first item (owned by a list), NULL if none */
    int col_split, col_site; /* their columns, or -1 */
} fesf_labels_csv;

/* Parse csv into c (zeroed by the caller or not: it is reset), the files
 * relative to dir; "images" or "volumes" names the items in the messages
 * ("'CSV': no images listed"). 0 or -1 (c may hold a part: free it). */
int fesf_labels_csv_read(fesf_labels_csv *c, const char *dir, const char *csv, fesf_csv_kind kind,
                         const char *noun);
void fesf_labels_csv_free(fesf_labels_csv *c);

/* Append (path, label, site) to l; takes ownership of path (freed on failure). */
int fesf_item_list_add(fesf_item_list *l, char *path, int32_t label, int32_t site);
/* dir/file, or file itself if it is absolute; malloc'd (NULL: out of memory). */
char *fesf_join_path(const char *dir, const char *file);

#endif
