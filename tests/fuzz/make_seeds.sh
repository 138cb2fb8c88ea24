#!/usr/bin/env bash
# Regenerates the fuzz seed corpora from text-format protobuf (protoc --encode) and the zstd CLI.
# The outputs are committed; re-run after changing the protocol.
set -euo pipefail
cd "$(dirname "$0")"
P=../../proto
fd=corpus/frame_decoder; bd=corpus/batch_decoder
mkdir -p "$fd" "$bd"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
enc() { protoc -I"$P" --encode="custos.v1.$1" custos/v1/event.proto custos/v1/session.proto; }
frame() {  # frame TYPE BODYFILE > out
  local n; n=$(stat -c %s "$2")
  printf "\\x$(printf %02x $((n>>24&255)))\\x$(printf %02x $((n>>16&255)))\\x$(printf %02x $((n>>8&255)))\\x$(printf %02x $((n&255)))\\x$(printf %02x "$1")"
  cat "$2"
}
cat >"$tmp/events.txt" <<'T'
events { time_ns: 1763700000000000000 host: "ws-0001" actor { pid: 4242 executable: "/usr/bin/cp" command_line: "cp -r a b" uid: 0 user_name: "root" login_uid: 1000 login_user: "alice" } file { op: FILE_OP_CREATE path: "/media/alice/USB/customer-list.xlsx" size: 1048576 classifications: "confidential" source_path: "/home/alice/customer-list.xlsx" } }
events { time_ns: 1763700000100000000 actor { pid: 1 } usb { action: USB_ACTION_ADDED vendor_id: 1921 product_id: 21889 serial: "4C530001" interface_classes: 8 fingerprint: "usb-0781-5581" } }
events { time_ns: 1763700000200000000 setting { area: "firewall" key: "nft" old_value: "active" new_value: "flushed" observed_by: OBSERVED_BY_PROBE } }
events { time_ns: 1763700000300000000 gap { dropped_count: 10 first_dropped_seq: 5 last_dropped_seq: 14 reason: "spool full" } }
T
enc EventBatch <"$tmp/events.txt" >"$tmp/events.bin"
zstd -q -3 -f "$tmp/events.bin" -o "$tmp/events.zst"
size=$(stat -c %s "$tmp/events.bin")
python3 - "$tmp" "$size" <<'PY'
import sys
tmp, size = sys.argv[1], int(sys.argv[2])
def lit(b): return '"' + ''.join('\\%03o' % c for c in b) + '"'
raw = open(f"{tmp}/events.bin", "rb").read(); z = open(f"{tmp}/events.zst", "rb").read()
open(f"{tmp}/batch_zstd.txt", "w").write(f"first_seq: 1 count: 4 codec: CODEC_ZSTD uncompressed_size: {size} records: {lit(z)}")
open(f"{tmp}/batch_none.txt", "w").write(f"first_seq: 7 count: 4 codec: CODEC_NONE uncompressed_size: {size} records: {lit(raw)}")
open(f"{tmp}/batch_lie.txt", "w").write(f"first_seq: 1 count: 3 codec: CODEC_ZSTD uncompressed_size: 16 records: {lit(z)}")
PY
for n in zstd none lie; do enc Batch <"$tmp/batch_$n.txt" >"$bd/batch_$n.bin"; done
head -c 64 /dev/zero | zstd -q -19 | head -c 40 >"$bd/truncated_zstd.bin"
echo 'version' >"$bd/garbage.bin"
echo 'agent_version: "0.1.0" stream_epoch: 7 oldest_unacked_seq: 1 hostname: "ws-0001"' | enc Hello >"$tmp/hello.bin"
echo 'time_ns: 1' | enc Ping >"$tmp/ping.bin"
frame 1 "$tmp/hello.bin" >"$fd/hello.bin"
frame 3 "$bd/batch_zstd.bin" >"$fd/batch.bin"
{ frame 1 "$tmp/hello.bin"; frame 7 "$tmp/ping.bin"; frame 3 "$bd/batch_none.bin"; } >"$fd/stream.bin"
printf '\xff\xff\xff\xff\x03' >"$fd/huge_length.bin"
printf '\x00\x00\x00\x00\x63' >"$fd/bad_type.bin"
frame 3 "$bd/batch_zstd.bin" | head -c 30 >"$fd/truncated.bin"
echo "seeds: $(ls "$fd" | wc -l) frame_decoder, $(ls "$bd" | wc -l) batch_decoder"

# Volume headers (volume_fuzz, volume_test): the first 4 KiB of images made by mkfs (dosfstools,
# e2fsprogs) plus a hand-made exFAT boot sector. Mountinfo seeds are plain text, edited by hand.
vd=corpus/volume; mkdir -p "$vd"
truncate -s 64M "$tmp/f32" && mkfs.vfat -F 32 -n "MY STICK" -i 1234ABCD "$tmp/f32" >/dev/null
head -c 4096 "$tmp/f32" >"$vd/fat32_labelled"; head -c 600 "$tmp/f32" >"$vd/fat32_truncated"
truncate -s 32M "$tmp/f16" && mkfs.vfat -F 16 "$tmp/f16" >/dev/null && head -c 4096 "$tmp/f16" >"$vd/fat16_no_label"
truncate -s 8M "$tmp/e4" && mkfs.ext4 -q -L backup -U 0b1e2c3d-4e5f-4061-8273-94a5b6c7d8e9 "$tmp/e4"
head -c 4096 "$tmp/e4" >"$vd/ext4_labelled"
python3 -c "
b=bytearray(512); b[3:11]=b'EXFAT   '; b[100:104]=bytes([0xef,0xbe,0xad,0xde]); b[510]=0x55; b[511]=0xaa
open('$vd/exfat_header','wb').write(b)"
echo "seeds: $(ls "$vd" | wc -l) volume"
# Stored events as the scorer reads them back (one serialized custos.v1.Event each).
se=corpus/stored_event; mkdir -p "$se"
echo 'seq: 1 time_ns: 1763700000000000000 host: "ws-0001" actor { pid: 4242 executable: "/usr/bin/cp" command_line: "cp a b" login_user: "alice" } file { op: FILE_OP_COPY_TO_REMOVABLE path: "/media/alice/USB/customer-list.xlsx" size: 1048576 classifications: "confidential" source_path: "/home/alice/customer-list.xlsx" }' | enc Event >"$se/file_copy.bin"
echo 'seq: 2 usb { action: USB_ACTION_MOUNTED interface_classes: 8 fingerprint: "usb-0781-5581" mount_point: "/media/alice/USB" }' | enc Event >"$se/usb.bin"
echo 'seq: 3 setting { area: "firewall" key: "nft" old_value: "active" new_value: "flushed" } actor { pid: 7 }' | enc Event >"$se/setting_then_actor.bin"
echo 'seq: 4 gap { dropped_count: 10 first_dropped_seq: 5 last_dropped_seq: 14 reason: "spool full" }' | enc Event >"$se/gap.bin"
head -c 20 "$se/file_copy.bin" >"$se/truncated.bin"
