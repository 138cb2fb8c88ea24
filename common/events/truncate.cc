#include "common/events/truncate.h"

#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/reflection.h>

namespace custos::events {
namespace {

using google::protobuf::FieldDescriptor;

// The longest prefix of `s` of at most `max` bytes that does not split a UTF-8 sequence.
size_t Utf8Cut(const std::string& s, size_t max) {
  size_t cut = max;
  // Step back over continuation bytes (10xxxxxx) to the start of the sequence that crosses.
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return cut;
}

bool Shorten(std::string* s, bool is_utf8, size_t max) {
  if (s->size() <= max) return false;
  s->resize(is_utf8 ? Utf8Cut(*s, max) : max);
  return true;
}

}  // namespace

size_t TruncateLongFields(google::protobuf::Message* message, size_t max_field_bytes) {
  const google::protobuf::Reflection* r = message->GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(*message, &fields);
  size_t n = 0;
  for (const FieldDescriptor* f : fields) {
    const bool is_utf8 = f->type() == FieldDescriptor::TYPE_STRING;
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
      if (f->is_repeated()) {
        for (int i = 0; i < r->FieldSize(*message, f); ++i) {
          std::string s = r->GetRepeatedString(*message, f, i);
          if (Shorten(&s, is_utf8, max_field_bytes)) {
            r->SetRepeatedString(message, f, i, std::move(s));
            ++n;
          }
        }
      } else {
        std::string s = r->GetString(*message, f);
        if (Shorten(&s, is_utf8, max_field_bytes)) {
          r->SetString(message, f, std::move(s));
          ++n;
        }
      }
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (f->is_repeated()) {
        for (int i = 0; i < r->FieldSize(*message, f); ++i) {
          n += TruncateLongFields(r->MutableRepeatedMessage(message, f, i), max_field_bytes);
        }
      } else {
        n += TruncateLongFields(r->MutableMessage(message, f), max_field_bytes);
      }
    }
  }
  return n;
}

}  // namespace custos::events
