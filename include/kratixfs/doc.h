/* YAML text and the document model (node.h): parsing into trees, and a canonical emitter (key
 * order kept, stable quoting) that gives identical bytes for identical trees. */
#ifndef KRATIXFS_DOC_H
#define KRATIXFS_DOC_H

#include <stdbool.h>
#include <stddef.h>

#include "kratixfs/buf.h"
#include "kratixfs/error.h"
#include "kratixfs/node.h"

/* Parses exactly one YAML document. name (a file name) prefixes error messages, which carry
 * the line: "object.yaml:3: ...". An empty input or a second document is an error. */
int kfs_doc_parse(const char *buf, size_t len, const char *name, struct kfs_node **out,
		  struct kfs_error *err);
/* Parses a stream of documents (empty ones are skipped); *docs is a malloc'd array. */
int kfs_doc_parse_stream(const char *buf, size_t len, const char *name, struct kfs_node ***docs,
			 size_t *n, struct kfs_error *err);
/* Checks that buf is a valid YAML stream without building a tree (for rendered files). */
int kfs_doc_check(const char *buf, size_t len, const char *name, struct kfs_error *err);
/* Reads and parses one file; errors name the path. */
int kfs_doc_parse_file(const char *path, struct kfs_node **out, struct kfs_error *err);

/* Emits n as a block-style YAML document ending in a newline. */
void kfs_doc_emit(const struct kfs_node *n, struct kfs_buf *out);
/* Emits n for inclusion at column col: the first line unindented, the following lines
 * indented by col spaces, no final newline (the template `yaml` filter). */
void kfs_doc_emit_at(const struct kfs_node *n, size_t col, struct kfs_buf *out);
/* Appends text as a YAML double-quoted scalar that is valid for any bytes. */
void kfs_yaml_quote(const char *text, size_t len, struct kfs_buf *out);
/* The offset of the first character of text that must not be written into YAML unescaped (len
 * when there is none): a line break of any common parser (\n, \r, U+0085 NEL, U+2028, U+2029),
 * another C0 or C1 control or DEL (tab included), a BOM, U+FFFE/U+FFFF, or a byte that is not
 * UTF-8. newline_ok lets \n through. *clen is its length in bytes; *cp its code point, or
 * minus the byte when it is not UTF-8. */
size_t kfs_yaml_unsafe(const char *text, size_t len, bool newline_ok, size_t *clen, long *cp);
/* Names cp (from kfs_yaml_unsafe) for a message: "U+2028 LINE SEPARATOR, which YAML reads as a
 * line break", "a control character 0x07", "byte 0x85, which is not UTF-8". Returns buf. */
const char *kfs_yaml_char_name(long cp, char *buf, size_t size);

#endif
