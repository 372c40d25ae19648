#pragma once
/// Conversions between wire messages (schema/tributary.capnp) and model values. RPC glue only.

#include "model/types.hpp"
#include "schema/tributary.capnp.h"

namespace tributary::wire {

void to_wire(const model::error& e, Error::Builder out);
model::error from_wire(Error::Reader in);

void to_wire(const model::result_table& t, ResultTable::Builder out);
model::result_table from_wire(ResultTable::Reader in);

void to_wire(const model::outcome& o, Result::Builder out);
model::outcome from_wire(Result::Reader in);

}  // namespace tributary::wire
