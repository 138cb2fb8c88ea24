// Field caps for events: shortens every string and bytes field of a message (recursively, in
// repeated fields too) that is longer than a limit. Strings are cut on a UTF-8 character
// boundary. The agent applies it to an event that serialises larger than its cap and then sets
// Event.truncated, so an oversized event is kept, shortened and flagged, never dropped.
#pragma once

#include <cstddef>

#include <google/protobuf/message.h>

namespace custos::events {

// Returns how many fields were shortened (0 = the message is unchanged).
size_t TruncateLongFields(google::protobuf::Message* message, size_t max_field_bytes);

}  // namespace custos::events
