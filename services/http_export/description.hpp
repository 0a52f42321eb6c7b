// The body of `GET /<export>`: the exported interface described for people and tools, built
// once when the export is added from lidlc's JSON description of the schema.
#pragma once

#include <http_export/interface.hpp>

#include <base/result.hpp>

#include <string>
#include <string_view>

namespace amb::http_export {

/// Describes export `name` of `codec`'s interface as JSON text:
///
///     {"export": "averager", "interface": "demo::averager", "doc": "...",
///      "procedures": [{"name": "add", "id": 0, "method": "POST", "path": "/averager/add",
///                      "doc": "...", "params": [{"name": ..., "type": ..., "doc": ...}],
///                      "result": TYPE or null}],
///      "types": [the declarations those procedures reach, as lidlc --json writes them]}
///
/// Types are in docs/lidlc-json.md's form. `schema` is `lidlc --json` output of the schema
/// that declares the interface; empty gives names and paths only. Fails (false) when `schema`
/// is not such a description: not JSON, no service of that name, or other procedures.
result<std::string, bool> describe_export(std::string_view name, const interface_codec& codec,
                                          std::string_view schema);

} // namespace amb::http_export
