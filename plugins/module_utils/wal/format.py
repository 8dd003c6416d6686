# -*- coding: utf-8 -*-
# Copyright (c) fleetops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Prometheus (agent) write-ahead log on disk: listing, streaming verification, repair preview.

Free of Ansible and of anything beyond the standard library. Two optional accelerators:

* ``crc32c`` (PyPI): C / hardware CRC-32C. Without it a pure-Python table implementation is
  used: correct, but some 100x slower (a few MB/s). ``CRC_IMPLEMENTATION`` says which one.
* ``cramjam`` (PyPI): zstd decoding, only to name the type of zstd-compressed records
  (Prometheus 2.46+). Snappy records are named without it (the first decoded byte of a snappy
  block is always a literal). Verification itself never decompresses anything: the CRC-32C
  covers the raw (compressed) fragment payload.

On-disk format (Prometheus ``tsdb/wlog``): a WAL directory holds segments named ``%08d``
made of 32 KiB pages, and checkpoints ``checkpoint.%08d/`` (``.tmp`` while being built) whose
files use the same format. A page holds fragments: a 7-byte header (type byte: low 3 bits 0
page-term, 1 full, 2 first, 3 middle, 4 last; bit 3 snappy, bit 4 zstd; 2 bytes big-endian
length; 4 bytes big-endian CRC-32C of the payload) then the payload. Fragments never cross a
page, records never cross a segment. After the last fragment of a page the rest is zeros.

Verification reads every file in ``READ_SIZE`` blocks (32 pages) into one reused buffer and
walks the fragments in place (memoryviews, no copies), so memory stays flat whatever the WAL
size. Input is anything with ``readinto`` (a file) or an iterator of byte chunks (a segment
streamed out of a pod with ``cat``), see ``IterReader``.

Corruptions are reported as ``{segment, offset, reason, fragment_offset}``: ``offset`` is the
offset in the segment of the first fragment of the bad record (where Prometheus's repair cuts
the segment: it keeps every record that ends before the corruption), ``fragment_offset`` the
offset of the fragment where the error was seen. After a corruption the reader resynchronises
at the next page (a page always starts with a fragment header) so one run lists every damaged
place, not only the first one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import re
import stat as _stat
import struct
import time

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core import checks as _checks
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.checks import make as _check

try:
    import crc32c as _crc32c_mod
    _crc32c_fast = getattr(_crc32c_mod, 'crc32c', None)
    if _crc32c_fast is None:  # pragma: no cover - very old or very new package layout
        _crc32c_fast = _crc32c_mod.crc32
    HAS_CRC32C = True
    CRC_IMPLEMENTATION = 'crc32c %s (%s)' % (
        getattr(_crc32c_mod, '__version__', '?'),
        'hardware' if getattr(_crc32c_mod, 'hardware_based', False) else 'software')
except ImportError:
    _crc32c_fast = None
    HAS_CRC32C = False
    CRC_IMPLEMENTATION = 'python'

try:
    import cramjam as _cramjam
    HAS_CRAMJAM = True
except ImportError:
    _cramjam = None
    HAS_CRAMJAM = False


PAGE_SIZE = 32 * 1024
HEADER_SIZE = 7
READ_SIZE = 32 * PAGE_SIZE          # 1 MiB: one read() per 32 pages
TAIL_PAGES = 2                      # verify: tail also reads the last pages of the previous segment
LIVE_WINDOW_SECONDS = 300           # local mode: a last segment written this recently means the agent is running
MAX_CORRUPTIONS = 100               # listed; the total is always counted

REC_PAGE_TERM, REC_FULL, REC_FIRST, REC_MIDDLE, REC_LAST = 0, 1, 2, 3, 4
SNAPPY_MASK = 0x08
ZSTD_MASK = 0x10

RECORD_TYPE_NAMES = {
    1: 'series', 2: 'samples', 3: 'tombstones', 4: 'exemplars', 5: 'mmap_markers',
    6: 'metadata', 7: 'histogram_samples', 8: 'float_histogram_samples',
    9: 'custom_bucket_histogram_samples', 10: 'custom_bucket_float_histogram_samples',
    11: 'samples_v2', 12: 'histogram_samples_v2', 13: 'float_histogram_samples_v2',
}

SEGMENT_RE = re.compile(r'^[0-9]+$')
CHECKPOINT_RE = re.compile(r'^checkpoint\.([0-9]+)(\.tmp)?$')

_HEADER = struct.Struct('>BHI')


# --------------------------------------------------------------------------- CRC-32C

def _make_table():
    table = []
    for i in range(256):
        crc = i
        for _bit in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _make_table()


def crc32c_python(data, crc=0):
    """CRC-32C (Castagnoli) in pure Python: slow, always available."""
    table = _TABLE
    crc ^= 0xFFFFFFFF
    for byte in bytes(data):
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


crc32c = _crc32c_fast if _crc32c_fast is not None else crc32c_python


# --------------------------------------------------------------------------- streams

class IterReader:
    """``readinto`` over an iterator of byte chunks (e.g. ``Target.exec_stream(['cat', seg])``)."""

    def __init__(self, chunks):
        self._it = iter(chunks)
        self._chunk = memoryview(b'')
        self._pos = 0

    def readinto(self, buf):
        while self._pos >= len(self._chunk):
            try:
                chunk = next(self._it)
            except StopIteration:
                return 0
            self._chunk = memoryview(chunk)
            self._pos = 0
        n = min(len(buf), len(self._chunk) - self._pos)
        buf[:n] = self._chunk[self._pos:self._pos + n]
        self._pos += n
        return n

    def close(self):
        close = getattr(self._it, 'close', None)
        if close is not None:
            close()


def _fill(readinto, view):
    """Fill ``view`` as far as the stream allows; fewer bytes than asked means end of stream."""
    got = 0
    size = len(view)
    while got < size:
        n = readinto(view[got:])
        if not n:
            break
        got += n
    return got


# --------------------------------------------------------------------------- the verifier

def _record_type(buf, pos, length, typ_byte):
    """Type of a record from its first fragment's payload at ``pos`` (None: cannot tell here)."""
    if length == 0:
        return None
    if not typ_byte & (SNAPPY_MASK | ZSTD_MASK):
        return buf[pos]
    if typ_byte & SNAPPY_MASK:
        # snappy block: uvarint decoded length, then the first element, always a literal
        end = pos + length
        i = pos
        while i < end and buf[i] & 0x80:
            i += 1
        i += 1
        if i >= end:
            return None
        tag = buf[i]
        if tag & 3:
            return None
        lenc = tag >> 2
        i += 1 if lenc < 60 else lenc - 58
        return buf[i] if i < end else None
    return None


class SegmentResult:
    """What verifying one file found."""

    __slots__ = ('segment', 'start', 'bytes', 'fragments', 'records', 'record_types', 'compression',
                 'corruptions', 'corruptions_total', 'torn_tail', 'eof_offset')

    def __init__(self, segment, start):
        self.segment = segment
        self.start = start
        self.bytes = 0
        self.fragments = 0
        self.records = 0
        self.record_types = [0] * 257     # index 256: unknown
        self.compression = [0, 0, 0, 0]    # records by (type byte >> 3) & 3: none, snappy, zstd, both bits
        self.corruptions = []
        self.corruptions_total = 0
        self.torn_tail = None
        self.eof_offset = start


class Verifier:
    """Streaming WAL verifier. One instance holds one read buffer, reused for every file."""

    def __init__(self, read_size=READ_SIZE, max_corruptions=MAX_CORRUPTIONS):
        if read_size % PAGE_SIZE:
            raise ValueError('read_size must be a multiple of %d' % PAGE_SIZE)
        self.buf = bytearray(read_size)
        self.view = memoryview(self.buf)
        self.max_corruptions = max_corruptions

    def verify(self, stream, segment, start=0, last=False, live=False, partial=False):
        """Verify one segment (or checkpoint file) read from ``stream``.

        ``stream``: an object with ``readinto`` or an iterable of byte chunks, positioned at
        ``start`` (a multiple of the page size). ``last``: the newest segment of the WAL, where an
        incomplete record at the very end is its torn tail (``torn_tail``), not a corruption;
        ``live``: the agent is writing it (the torn tail is a write in progress; else a write a
        crash cut short, which Prometheus cuts off at start). ``partial``: reading starts
        mid-segment, so the first fragments of the first page may continue a record we did not see.
        """
        if start % PAGE_SIZE:
            raise ValueError('start must be page aligned')
        readinto = getattr(stream, 'readinto', None)
        if readinto is None:
            stream = IterReader(stream)
            readinto = stream.readinto
        res = SegmentResult(segment, start)
        buf = self.buf
        view = self.view
        size = len(buf)
        unpack = _HEADER.unpack_from
        crc = crc32c
        count = buf.count
        tally = [0] * 2048      # records by (type byte & 0x18) << 6 | record type (256: unknown)
        zflags = 0
        ptype = 0               # type byte of a record whose first fragment was empty (type not named yet)
        page_size = PAGE_SIZE

        base = start            # segment offset of buf[0]
        in_rec = False          # inside a record (after first/middle)
        rec_start = 0           # segment offset of the current record's first fragment
        skip = partial          # resynchronising: ignore middle/last until a full/first
        zrec = None             # bytearray collecting a zstd record (only to name its type)
        continued = 0          # middle and last fragments (fragments = records + these)
        eof = False
        incomplete = None       # (reason, record offset, fragment offset) when the data stops mid-fragment

        while not eof:
            n = _fill(readinto, view)
            if n < size:
                eof = True
            if not n:
                break
            page = 0
            while page < n:
                pend = page + page_size
                if pend > n:
                    pend = n
                pos = page
                bad = None
                hend = pend - 7     # the last offset where a whole header fits in this page
                # Hot loop: literals instead of the module constants (7 = HEADER_SIZE,
                # 1 full, 2 first, 3 middle, 4 last, 8 = SNAPPY_MASK, 16 = ZSTD_MASK).
                while pos <= hend:
                    t, length, want = unpack(buf, pos)
                    typ = t & 7
                    if not typ:
                        break       # page terminator: checked below
                    end = pos + 7 + length
                    if end > pend:
                        if length > page_size - 7:
                            bad = ('invalid record size %d' % length, pos)
                        elif pend - page < page_size and end - page <= page_size:
                            incomplete = ('truncated fragment payload (unexpected EOF)', pos)
                        else:
                            bad = ('invalid record size %d: fragment crosses the page boundary' % length, pos)
                        break
                    got = crc(view[pos + 7:end])
                    if got != want:
                        bad = ('unexpected checksum %x, expected %x' % (got, want), pos)
                        break
                    if typ < 3:
                        # hot path: the start of a record; tally[(compression bits) << 6 | record type]
                        if in_rec:
                            bad = ('unexpected %s record' % ('full' if typ == 1 else 'first'), pos)
                            break
                        skip = False
                        if typ == 2:
                            in_rec = True
                            rec_start = base + pos
                        i = pos + 7
                        if t & 8:
                            # snappy block: uvarint length, then the first element, always a literal
                            # (tag < 240: one byte; 240..252: 1-4 length bytes follow); the type is the
                            # literal's first byte. Bounds: length > 9 keeps every index inside the fragment.
                            if length > 9:
                                if buf[i] < 128:
                                    i += 1
                                elif buf[i + 1] < 128:
                                    i += 2
                                elif buf[i + 2] < 128:
                                    i += 3
                                else:
                                    i += 4      # records over 256 MiB (a 5-byte uvarint) cannot be in a segment
                                tag = buf[i]
                                tally[(t & 24) << 6 | buf[i + 1 if tag < 240 else i + (tag >> 2) - 58]] += 1
                            elif length:
                                rt = _record_type(buf, i, length, t)
                                tally[(t & 24) << 6 | (256 if rt is None else rt)] += 1
                            else:
                                ptype = t       # an empty first fragment (7 bytes left in the page): name it from the next one
                        elif t & 16:
                            zrec = bytearray(view[i:end])
                            zflags = t & 24
                            if typ == 1:
                                tally[zflags << 6 | self._zstd_type(zrec)] += 1
                                zrec = None
                        elif length:
                            tally[(t & 24) << 6 | buf[i]] += 1
                        else:
                            ptype = t
                    elif typ < 5:
                        if not in_rec:
                            if not skip:
                                bad = ('unexpected %s record' % ('middle' if typ == 3 else 'last'), pos)
                                break
                        else:
                            continued += 1
                            if ptype:
                                rt = _record_type(buf, pos + 7, length, ptype)
                                tally[(ptype & 24) << 6 | (256 if rt is None else rt)] += 1
                                ptype = 0
                            if zrec is not None:
                                zrec += view[pos + 7:end]
                            if typ == 4:
                                in_rec = False
                                if zrec is not None:
                                    tally[zflags << 6 | self._zstd_type(zrec)] += 1
                                    zrec = None
                    else:
                        bad = ('unexpected record type %d' % typ, pos)
                        break
                    pos = end
                if bad is None and incomplete is None and pos < pend:
                    if not buf[pos] & 7:
                        # page terminator: the rest of the page must be zeros
                        if count(0, pos + 1, pend) != pend - pos - 1:
                            bad = ('unexpected non-zero byte in padded page', pos)
                        elif pend - page < page_size:
                            incomplete = ('unexpected EOF in padded page', pos)
                    elif pend - page < page_size:
                        incomplete = ('truncated fragment header (unexpected EOF)', pos)
                    else:
                        bad = ('fragment header crosses the page boundary', pos)
                if bad is not None:
                    reason, frag = bad
                    frag += base
                    self._add(res, reason, rec_start if in_rec else frag, frag)
                    in_rec = False
                    skip = True
                    zrec = None
                    ptype = 0
                if incomplete is not None:
                    break
                page += page_size
            base += n
            if incomplete is not None:
                break

        res.bytes = base - start
        res.eof_offset = base
        for k in range(4):
            row = tally[k * 512:k * 512 + 257]
            n_k = sum(row)
            if n_k:
                res.compression[k] += n_k
                for rt, v in enumerate(row):
                    if v:
                        res.record_types[rt] += v
        records = sum(res.compression)
        res.fragments = records + continued
        res.records = records
        # Data that stops inside a record at the very end of the newest segment is a torn tail, not a
        # corruption: a write in progress when the agent runs; when it is stopped, the write its crash
        # cut short, which Prometheus's repair at start-up cuts off (only that partial record is lost).
        # Anywhere else (a closed segment, a checkpoint) it is a corruption.
        if incomplete is not None:
            reason, frag = incomplete
            frag += base - n
            offset = rec_start if in_rec else frag
            if last:
                res.torn_tail = {'segment': segment, 'offset': offset, 'bytes': base - offset, 'fragment_offset': frag,
                                 'reason': reason + (' while the agent is writing' if live else '')}
            else:
                self._add(res, reason, offset, frag)
        elif in_rec:
            if last:
                res.torn_tail = {'segment': segment, 'offset': rec_start, 'bytes': base - rec_start,
                                 'fragment_offset': rec_start,
                                 'reason': 'last record is torn' + (' (write in progress)' if live else '')}
            else:
                self._add(res, 'last record is torn', rec_start, rec_start)
        return res

    @staticmethod
    def _zstd_type(rec):
        if _cramjam is None:
            return 256
        try:
            out = bytes(_cramjam.zstd.decompress(bytes(rec)))
        except Exception:  # pylint: disable=broad-except
            return 256
        return out[0] if out else 256

    def _add(self, res, reason, offset, fragment_offset):
        res.corruptions_total += 1
        if len(res.corruptions) < self.max_corruptions:
            res.corruptions.append({'segment': res.segment, 'offset': offset, 'reason': reason,
                                    'fragment_offset': fragment_offset})


def verify_file(path, segment=None, start=0, last=False, live=False, partial=False, verifier=None):
    """Verify one local file (a segment or a checkpoint file); ``UnreadableFile`` when it is not one."""
    verifier = verifier or Verifier()
    with open_local_file(path, start) as handle:
        return verifier.verify(handle, segment or os.path.basename(path), start=start, last=last,
                               live=live, partial=partial)


# --------------------------------------------------------------------------- local files

class UnreadableFile(Exception):
    """A file of the WAL that is not read: ``reason`` says why in words (a named pipe, a symbolic
    link loop, no permission, an I/O error), after the file's name."""

    def __init__(self, path, reason):
        super(UnreadableFile, self).__init__('%s %s' % (path, reason))
        self.path = path
        self.reason = reason


class DeadlinePassed(Exception):
    """The reads of a verification ran out of time (``verify_listing``'s deadline)."""


_FILE_TYPES = ((_stat.S_ISFIFO, 'named pipe (FIFO)'), (_stat.S_ISSOCK, 'socket'), (_stat.S_ISCHR, 'character device'),
               (_stat.S_ISBLK, 'block device'), (_stat.S_ISDIR, 'directory'), (_stat.S_ISLNK, 'symbolic link'))


def file_type_name(mode):
    """What a file of ``mode`` is, in words ('regular file', 'named pipe (FIFO)', ...)."""
    for test, name in _FILE_TYPES:
        if test(mode):
            return name
    return 'regular file' if _stat.S_ISREG(mode) else 'special file'


def not_regular_reason(mode):
    return 'is a %s, not a regular file: not opened' % file_type_name(mode)


def os_error_reason(exc):
    """An ``OSError`` of a local file as the rest of a sentence after the file's name (never
    only ``[Errno N]``)."""
    code = getattr(exc, 'errno', None)
    if code == errno.ELOOP:
        return 'is a symbolic link loop (following it comes back to itself: too many levels of symbolic links)'
    if code == errno.ENOENT:
        return 'does not exist'
    if code in (errno.EACCES, errno.EPERM):
        return 'cannot be read: permission denied (run as a user who may read the WAL, e.g. with become)'
    if code == errno.EIO:
        return 'cannot be read: input/output error (a failing disk or a lost network mount?)'
    if code == errno.ESTALE:
        return 'cannot be read: stale file handle (the network file system lost it)'
    if code == errno.ENOTDIR:
        return 'cannot be reached: a part of its path is not a directory'
    text = getattr(exc, 'strerror', None) or str(exc) or type(exc).__name__
    return 'cannot be read: %s' % (text[:1].lower() + text[1:])


_OPEN_FLAGS = (os.O_RDONLY | getattr(os, 'O_NONBLOCK', 0) | getattr(os, 'O_NOCTTY', 0) | getattr(os, 'O_CLOEXEC', 0)
               | getattr(os, 'O_BINARY', 0))


def open_local_file(path, start=0):
    """The one place a local WAL file is opened: a regular file only (a symbolic link is followed,
    as Prometheus does), checked before opening and again on the open file, and opened without
    blocking, so a named pipe or a device put (or swapped) in the WAL directory is never waited on.

    Returns an unbuffered binary file positioned at ``start``. Raises ``FileNotFoundError`` when
    the file is gone (a truncation deleted it) and ``UnreadableFile`` for anything else.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise UnreadableFile(path, 'is a symbolic link to %s, which does not exist' % _link_target(path))
        raise
    except OSError as exc:
        raise UnreadableFile(path, os_error_reason(exc))
    if not _stat.S_ISREG(st.st_mode):
        raise UnreadableFile(path, not_regular_reason(st.st_mode))
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise UnreadableFile(path, os_error_reason(exc))
    try:
        st = os.fstat(fd)
        if not _stat.S_ISREG(st.st_mode):
            raise UnreadableFile(path, 'was replaced by a %s while being opened: not read' % file_type_name(st.st_mode))
        if start:
            os.lseek(fd, start, os.SEEK_SET)
        return os.fdopen(fd, 'rb', buffering=0)
    except BaseException:
        os.close(fd)
        raise


def _link_target(path):
    try:
        return os.readlink(path)
    except OSError:
        return '?'


class _DeadlineReader(object):
    """``readinto`` of a stream (a file or an iterator of chunks) while a ``core.http.Deadline``
    has time left: each read first looks at the time left, as core/http's sockets do (one read
    is at most ``READ_SIZE``, so the deadline is passed by at most one read)."""

    def __init__(self, stream, deadline):
        readinto = getattr(stream, 'readinto', None)
        if readinto is None:
            stream = IterReader(stream)
            readinto = stream.readinto
        self._readinto = readinto
        self._deadline = deadline

    def readinto(self, buf):
        if self._deadline.expired():
            raise DeadlinePassed()
        return self._readinto(buf)


# --------------------------------------------------------------------------- listing

class WalListing:
    """The files of a WAL directory, from the local file system or from ``stat`` in a pod."""

    def __init__(self, path, now=None):
        self.path = path
        self.now = time.time() if now is None else now
        self.segments = []       # [(index, name, size, mtime)] sorted by index
        self.checkpoints = []    # [{'name','index','size_bytes','mtime','tmp','files': [(name, size)]}]
        self.other_bytes = 0
        self.volume = None       # {'capacity','used','available','used_ratio'} or None
        self.unreadable = {}     # {relname: why} WAL files (by name) that are not regular files or cannot be reached

    @property
    def size_bytes(self):
        return (sum(s[2] for s in self.segments) + sum(c['size_bytes'] for c in self.checkpoints) + self.other_bytes)

    def add(self, relname, size, mtime, is_dir, unreadable=None):
        """Add one entry: ``relname`` relative to the WAL directory (one level of subdirectory).
        ``unreadable``: why the entry is not read (not a regular file, a symbolic link loop...);
        kept in ``unreadable`` when its name is one of a WAL file."""
        parts = relname.strip('/').split('/')
        if parts[0] in ('', '.'):
            return
        if len(parts) == 1:
            m = CHECKPOINT_RE.match(parts[0])
            if m and is_dir:
                self._checkpoint(parts[0], m)['mtime'] = mtime
            elif SEGMENT_RE.match(parts[0]) and not is_dir:
                self.segments.append((int(parts[0]), parts[0], size, mtime))
            elif not is_dir:
                self.other_bytes += size
            if unreadable and (m or SEGMENT_RE.match(parts[0])):
                self.unreadable[parts[0]] = unreadable
            return
        m = CHECKPOINT_RE.match(parts[0])
        if m:
            cp = self._checkpoint(parts[0], m)
            if not is_dir:
                cp['size_bytes'] += size
                cp['files'].append(('/'.join(parts[1:]), size))
                if unreadable and SEGMENT_RE.match(parts[-1]):
                    self.unreadable['/'.join(parts)] = unreadable
        elif not is_dir:
            self.other_bytes += size

    def _checkpoint(self, name, match):
        for cp in self.checkpoints:
            if cp['name'] == name:
                return cp
        cp = {'name': name, 'index': int(match.group(1)), 'size_bytes': 0, 'mtime': None,
              'tmp': bool(match.group(2)), 'files': []}
        self.checkpoints.append(cp)
        return cp

    def finish(self):
        self.segments.sort()
        self.checkpoints.sort(key=lambda c: (c['index'], c['tmp']))
        for cp in self.checkpoints:
            cp['files'].sort()
        return self

    def age(self, mtime):
        if mtime is None:
            return None
        return max(0, int(round(self.now - mtime)))

    @property
    def checkpoint(self):
        done = [c for c in self.checkpoints if not c['tmp']]
        return done[-1] if done else None

    def gaps(self):
        """Missing segment numbers: between the first and the last (Prometheus refuses to open
        such a WAL), and between the checkpoint and the first segment (replay fails)."""
        out = []
        cp = self.checkpoint
        if cp is not None and self.segments and self.segments[0][0] > cp['index'] + 1:
            out.append((cp['index'] + 1, self.segments[0][0] - 1))
        for (a, _n, _s, _m), (b, _n2, _s2, _m2) in zip(self.segments, self.segments[1:]):
            if b != a + 1:
                out.append((a + 1, b - 1))
        return out

    def summary(self):
        """The ``wal`` facts of the listing (no verification)."""
        segs = self.segments
        cp = self.checkpoint
        out = {
            'path': self.path,
            'size_bytes': self.size_bytes,
            'segments_bytes': sum(s[2] for s in segs),
            'segment_count': len(segs),
            'first_segment': segs[0][1] if segs else None,
            'last_segment': segs[-1][1] if segs else None,
            'oldest_segment_age_seconds': self.age(segs[0][3]) if segs else None,
            'last_write_age_seconds': self.age(segs[-1][3]) if segs else None,
            'checkpoint': None,
            'checkpoints_in_progress': [
                {'name': c['name'], 'index': c['index'], 'size_bytes': c['size_bytes'], 'age_seconds': self.age(c['mtime'])}
                for c in self.checkpoints if c['tmp']],
            'non_sequential_segments': ['%08d-%08d' % g if g[0] != g[1] else '%08d' % g[0] for g in self.gaps()],
            'unreadable_files': [{'file': name, 'reason': why} for name, why in sorted(self.unreadable.items())],
        }
        if cp is not None:
            out['checkpoint'] = {'name': cp['name'], 'index': cp['index'], 'size_bytes': cp['size_bytes'],
                                 'age_seconds': self.age(cp['mtime'])}
        return out


def volume_from_statvfs(st):
    capacity = st.f_blocks * st.f_frsize
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    available = st.f_bavail * st.f_frsize
    return make_volume(capacity, used, available)


def make_volume(capacity, used, available):
    ratio = round(float(used) / capacity, 6) if capacity else None
    return {'capacity': int(capacity), 'used': int(used), 'available': int(available), 'used_ratio': ratio}


def _entry_stat(entry):
    """(stat, why it is not read or None) of a directory entry: a symbolic link is followed (as
    Prometheus does); one that cannot be (a loop, a missing target) keeps its own stat and says why.
    None when the entry is gone (deleted by a truncation while we list)."""
    try:
        st = entry.stat(follow_symlinks=False)
    except FileNotFoundError:
        return None, None
    if _stat.S_ISLNK(st.st_mode):
        try:
            st = entry.stat(follow_symlinks=True)
        except FileNotFoundError:
            return st, 'is a symbolic link to %s, which does not exist' % _link_target(entry.path)
        except OSError as exc:
            return st, os_error_reason(exc)
    if _stat.S_ISREG(st.st_mode) or _stat.S_ISDIR(st.st_mode):
        return st, None
    return st, not_regular_reason(st.st_mode)


def list_local(path, now=None):
    """List a local WAL directory. Raises ``FileNotFoundError`` / ``NotADirectoryError``, and
    ``UnreadableFile`` when the directory cannot be reached (a symbolic link loop...)."""
    listing = WalListing(path, now=now)
    try:
        top = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise UnreadableFile(path, 'is a symbolic link to %s, which does not exist' % _link_target(path))
        raise FileNotFoundError('%s does not exist' % path)
    except PermissionError:
        raise
    except OSError as exc:
        raise UnreadableFile(path, os_error_reason(exc))
    if not _stat.S_ISDIR(top.st_mode):
        raise NotADirectoryError('%s is not a directory' % path)
    with os.scandir(path) as entries:
        for entry in entries:
            st, why = _entry_stat(entry)
            if st is None:
                continue
            is_dir = _stat.S_ISDIR(st.st_mode)
            listing.add(entry.name, 0 if is_dir else st.st_size, st.st_mtime, is_dir, unreadable=why)
            if is_dir and CHECKPOINT_RE.match(entry.name):
                try:
                    with os.scandir(entry.path) as sub:
                        for child in sub:
                            cst, cwhy = _entry_stat(child)
                            if cst is None:
                                continue
                            cdir = _stat.S_ISDIR(cst.st_mode)
                            listing.add(entry.name + '/' + child.name, 0 if cdir else cst.st_size, cst.st_mtime, cdir,
                                        unreadable=cwhy)
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    listing.unreadable[entry.name] = os_error_reason(exc)
    try:
        listing.volume = volume_from_statvfs(os.statvfs(path))
    except OSError:
        listing.volume = None
    return listing.finish()


def parse_pod_listing(path, out, now=None):
    """Parse a pod's listing (the first part of ``reader.POD_READ_SCRIPT``'s output: ``__NOW__``
    and the pod's clock, a line per entry from ``stat -c '%s %Y %F|%n'`` or ``ls -ld``, ``__DF__``
    and ``df -P``) into a ``WalListing``."""
    if isinstance(out, bytes):
        out = out.decode('utf-8', 'replace')
    pod_now = None
    lines = out.splitlines()
    df_lines = []
    entries = []
    in_df = False
    for line in lines:
        if line.startswith('__NOW__'):
            try:
                pod_now = float(line.split()[1])
            except (IndexError, ValueError):
                pod_now = None
            continue
        if line.strip() == '__DF__':
            in_df = True
            continue
        if in_df:
            df_lines.append(line)
        elif line.strip():
            entries.append(line)
    listing = WalListing(path, now=pod_now if pod_now is not None else now)
    for line in entries:
        parsed = _parse_entry(line)
        if parsed is not None:
            listing.add(*parsed)
    listing.volume = _parse_df(df_lines)
    return listing.finish()


# the file types of ``stat -c %F`` (GNU and busybox) and of ``ls -l``'s first letter that are no WAL file
_POD_SPECIAL = {'fifo': 'named pipe (FIFO)', 'socket': 'socket', 'character special file': 'character device',
                'block special file': 'block device'}
_LS_SPECIAL = {'p': 'fifo', 's': 'socket', 'c': 'character special file', 'b': 'block special file'}


def _special(kind):
    name = _POD_SPECIAL.get(kind)
    return None if name is None else 'is a %s, not a regular file: not opened' % name


def _parse_entry(line):
    if '|' in line and not line.startswith(('-', 'd', 'l')):
        head, name = line.split('|', 1)
        fields = head.split(None, 2)
        if len(fields) == 3:
            kind = fields[2].strip()
            try:
                return name, int(fields[0]), float(fields[1]), kind == 'directory', _special(kind)
            except ValueError:
                return None
    # ls -ld --time-style=+%s: mode links user group size epoch name
    fields = line.split(None, 6)
    if len(fields) == 7:
        try:
            return (fields[6], int(fields[4]), float(fields[5]), fields[0].startswith('d'),
                    _special(_LS_SPECIAL.get(fields[0][:1])))
        except ValueError:
            return None
    return None


def _parse_df(lines):
    if len(lines) < 2:
        return None
    header = lines[0].split()
    fields = lines[-1].split()
    if len(fields) < 4:
        return None
    scale = 1
    if header and len(header) > 1 and header[1].lower().startswith('1024'):
        scale = 1024
    try:
        # Filesystem, blocks, used, available, capacity%, mounted on (the first field may be long)
        blocks, used, avail = int(fields[-5]) * scale, int(fields[-4]) * scale, int(fields[-3]) * scale
    except (ValueError, IndexError):
        return None
    return make_volume(blocks, used, avail)


# --------------------------------------------------------------------------- the whole WAL

def compression_name(counts):
    """none / snappy / zstd / mixed from record counts by compression bits.

    Prometheus stores a record uncompressed when compressing does not make it smaller, so a
    snappy WAL holds some plain records: plain records are ignored once any compressed one is
    seen. ``mixed`` means both snappy and zstd records (the setting changed).
    """
    snappy = counts[1] + counts[3]
    zstd = counts[2] + counts[3]
    if snappy and zstd:
        return 'mixed'
    if snappy:
        return 'snappy'
    if zstd:
        return 'zstd'
    if counts[0]:
        return 'none'
    return 'unknown'


def plan_verification(listing, mode):
    """The reads ``verify`` does: [(kind, name, relpath, start, size, last, partial)]."""
    plan = []
    segs = listing.segments
    if mode == 'none' or not segs and not listing.checkpoints:
        return plan
    if mode == 'full':
        cp = listing.checkpoint
        if cp is not None:
            for fname, fsize in cp['files']:
                if SEGMENT_RE.match(fname):
                    plan.append(('checkpoint', cp['name'] + '/' + fname, cp['name'] + '/' + fname, 0, fsize, False, False))
        for i, (_idx, name, size, _mt) in enumerate(segs):
            plan.append(('segment', name, name, 0, size, i == len(segs) - 1, False))
    elif mode == 'tail' and segs:
        if len(segs) > 1:
            _idx, name, size, _mt = segs[-2]
            start = max(0, (size // PAGE_SIZE - TAIL_PAGES) * PAGE_SIZE)
            plan.append(('segment', name, name, start, size - start, False, start > 0))
        _idx, name, size, _mt = segs[-1]
        plan.append(('segment', name, name, 0, size, True, False))
    return plan


class WalReport:
    """Accumulates segment results into the ``wal`` facts and the repair preview."""

    def __init__(self, listing, mode, live):
        self.listing = listing
        self.mode = mode
        self.live = live
        self.results = []
        self.notes = []
        self.skipped = []       # [{'kind', 'file', 'reason'}]: files not read (not regular files, unreachable)
        self.error = None
        self.started = time.time()
        self.seconds = None

    def add(self, kind, result):
        self.results.append((kind, result))

    def note(self, text):
        self.notes.append(text)

    def skip(self, kind, name, reason):
        """``name`` was not read: ``reason`` follows its name in a sentence."""
        self.skipped.append({'kind': kind, 'file': name, 'reason': reason})
        self.note('%s %s %s' % (kind, name, reason))

    def out_of_time(self, deadline, plan):
        """The deadline passed before every file of ``plan`` was verified to its end."""
        total = sum(p[4] for p in plan)
        read = sum(res.bytes for _k, res in self.results)
        self.error = ('verification stopped when the timeout of %gs was spent: %d of %d file(s) verified (%s of %s); '
                      'raise timeout, or verify less (verify tail or none)'
                      % (deadline.seconds, len(self.results), len(plan), _human(read), _human(total)))

    def finish(self):
        self.seconds = round(time.time() - self.started, 3)
        return self

    def corruptions(self):
        out = []
        for kind, res in self.results:
            for c in res.corruptions:
                item = dict(c)
                item['kind'] = kind
                out.append(item)
        return out[:MAX_CORRUPTIONS]

    def corruptions_total(self):
        return sum(res.corruptions_total for _k, res in self.results)

    def torn_tail(self):
        for _k, res in self.results:
            if res.torn_tail:
                return res.torn_tail
        return None

    def verify_facts(self):
        comp = [0, 0, 0, 0]
        types = [0] * 257
        fragments = records = nbytes = 0
        for _k, res in self.results:
            for i, v in enumerate(res.compression):
                comp[i & 3] += v
            for i, v in enumerate(res.record_types):
                if v:
                    types[i] += v
            fragments += res.fragments
            records += res.records
            nbytes += res.bytes
        named = {}
        for i, v in enumerate(types):
            if v:
                key = 'unknown' if i == 256 else RECORD_TYPE_NAMES.get(i, 'type_%d' % i)
                named[key] = named.get(key, 0) + v
        return {
            'mode': self.mode,
            'files': len(self.results),
            'verified_bytes': nbytes,
            'fragments': fragments,
            'records': records,
            'record_types': named,
            'compression_records': {'none': comp[0], 'snappy': comp[1] + comp[3], 'zstd': comp[2] + comp[3]},
            'compression': compression_name(comp),
            'torn_tail': self.torn_tail(),
            'agent_running': self.live,
            'seconds': self.seconds,
            'bytes_per_second': int(nbytes / self.seconds) if self.seconds else None,
            'crc_implementation': CRC_IMPLEMENTATION,
            'notes': list(self.notes),
            'skipped': [dict(item) for item in self.skipped],
            'error': self.error,
        }

    def repair_preview(self):
        """What Prometheus's own repair (at start-up, on a read error) would do to this WAL."""
        return repair_preview(self.listing, self.corruptions(), live=self.live, torn_tail=self.torn_tail())


def repair_preview(listing, corruptions, live=False, torn_tail=None):
    """Prometheus ``wlog.Repair``: delete every segment after the corrupted one, rewrite the
    corrupted one up to the corruption (the records that end before it), start a new segment.
    A corrupted checkpoint is not repaired (the agent fails to start). The torn tail of a stopped
    agent is repaired the same way: the newest segment is cut before its torn last record."""
    out = {'needed': False, 'would_delete': [], 'would_truncate': None, 'would_keep': [], 'bytes_lost': 0,
           'checkpoint_corrupted': None, 'message': ''}
    seg_corr = [c for c in corruptions if c.get('kind', 'segment') == 'segment']
    cp_corr = [c for c in corruptions if c.get('kind') == 'checkpoint']
    if cp_corr:
        out['checkpoint_corrupted'] = {'file': cp_corr[0]['segment'], 'offset': cp_corr[0]['offset'],
                                       'reason': cp_corr[0]['reason']}
    segs = listing.segments
    torn_cut = torn_tail if torn_tail and not live else None
    if not seg_corr and torn_cut is None:
        out['would_keep'] = [{'segment': s[1], 'size_bytes': s[2]} for s in segs]
        if cp_corr:
            out['message'] = ('checkpoint %s is corrupted: Prometheus does not repair checkpoints and the agent will fail '
                              'to start; the WAL must be removed with the pod stopped (data loss)' % cp_corr[0]['segment'])
        elif torn_tail and live:
            out['message'] = ('no repair needed: the last record of %s is being written' % torn_tail['segment'])
        else:
            out['message'] = 'no repair needed: no corruption found'
        return out
    first = min(seg_corr, key=lambda c: (int(c['segment']), c['offset'])) if seg_corr else torn_cut
    idx = int(first['segment'])
    out['needed'] = True
    for s in segs:
        if s[0] < idx:
            out['would_keep'].append({'segment': s[1], 'size_bytes': s[2]})
        elif s[0] == idx:
            lost = max(0, s[2] - first['offset'])
            out['would_truncate'] = {'segment': s[1], 'at_offset': first['offset'], 'bytes_lost': lost,
                                     'size_bytes': s[2], 'reason': first['reason']}
            out['bytes_lost'] += lost
        else:
            out['would_delete'].append({'segment': s[1], 'size_bytes': s[2]})
            out['bytes_lost'] += s[2]
    if not seg_corr:
        out['message'] = ('on its next start Prometheus cuts segment %s at offset %d, dropping only its torn last record '
                          '(%d bytes the agent had not finished writing when it stopped); no other record is lost'
                          % (first['segment'], first['offset'], out['bytes_lost']))
    else:
        out['message'] = ('on its next start Prometheus would truncate segment %s at offset %d and delete %d newer segment(s): '
                          '%d bytes of WAL lost (not yet sent samples in them are lost)'
                          % (first['segment'], first['offset'], len(out['would_delete']), out['bytes_lost']))
    if cp_corr:
        out['message'] += '; checkpoint %s is corrupted too and is not repaired' % cp_corr[0]['segment']
    return out


def writer_pids(path, listing, proc='/proc'):
    """Processes on this machine holding a segment of the WAL at ``path`` open (the running
    agent keeps its active segment open), compared by device and inode so an agent in another
    mount namespace (a container) is found too. None when ``/proc`` cannot be read."""
    wanted = set()
    for _idx, name, _size, _mtime in listing.segments[-2:]:
        try:
            st = os.stat(os.path.join(path, name))
        except OSError:
            continue
        wanted.add((st.st_dev, st.st_ino))
    if not wanted:
        return []
    try:
        pids = [p for p in os.listdir(proc) if p.isdigit()]
    except OSError:
        return None
    found = []
    readable = False
    for pid in pids:
        fddir = os.path.join(proc, pid, 'fd')
        try:
            fds = os.listdir(fddir)
        except OSError:
            continue
        readable = True
        for fd in fds:
            try:
                st = os.stat(os.path.join(fddir, fd))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in wanted:
                found.append(int(pid))
                break
    return found if readable else None


def guess_live(listing, window=LIVE_WINDOW_SECONDS, path=None, proc='/proc'):
    """Local mode: is an agent writing this WAL? A process holding its newest segment open says
    yes; when processes cannot be inspected, a last segment written within ``window`` seconds."""
    if not listing.segments:
        return False
    pids = writer_pids(path or listing.path, listing, proc=proc)
    if pids is not None:
        return bool(pids)
    age = listing.age(listing.segments[-1][3])
    return age is not None and age <= window


def verify_listing(listing, mode, opener, live=False, verifier=None, deadline=None):
    """Verify the files of ``listing`` per ``mode``; ``opener(relpath, start)`` returns a stream
    (object with ``readinto`` or iterator of chunks), may raise ``FileNotFoundError`` (the file
    is gone) or ``UnreadableFile`` (it is not read: ``wal.unreadable_files``).

    A file the listing already knows not to be a regular file is not opened. ``deadline``: a
    ``core.http.Deadline`` over all the reads; when it passes, verification stops there and the
    report's ``error`` says how far it came (what was verified before stands)."""
    report = WalReport(listing, mode, live)
    if mode == 'none':
        return report.finish()
    verifier = verifier or Verifier()
    plan = plan_verification(listing, mode)
    for kind, name, rel, start, size, last, partial in plan:
        if rel in listing.unreadable:
            report.skip(kind, name, listing.unreadable[rel])
            continue
        if deadline is not None and deadline.expired():
            report.out_of_time(deadline, plan)
            break
        try:
            stream = opener(rel, start)
        except FileNotFoundError:
            report.note('%s %s vanished before it could be read (truncated by the agent?)' % (kind, name))
            continue
        except UnreadableFile as exc:
            report.skip(kind, name, exc.reason)
            continue
        try:
            res = verifier.verify(stream if deadline is None else _DeadlineReader(stream, deadline), name,
                                  start=start, last=last, live=live, partial=partial)
        except DeadlinePassed:
            report.out_of_time(deadline, plan)
            break
        except FileNotFoundError:
            report.note('%s %s vanished before it could be read (truncated by the agent?)' % (kind, name))
            continue
        except OSError as exc:
            # a local read that failed midway (an I/O error, a stale network file system)
            report.skip(kind, name, os_error_reason(exc))
            continue
        except Exception as exc:  # pylint: disable=broad-except
            # a streamed file that the agent deleted (truncation) before ``cat`` opened it
            if 'No such file' not in str(exc):
                raise
            report.note('%s %s vanished before it could be read (truncated by the agent?)' % (kind, name))
            continue
        finally:
            close = getattr(stream, 'close', None)
            if close is not None:
                close()
        if res.bytes < size and not last:
            report.note('%s %s: read %d of %d bytes (deleted or truncated while being read?)' % (kind, name, res.bytes, size))
        report.add(kind, res)
    return report.finish()


def local_opener(path):
    """Open the WAL files of the local directory ``path`` (``open_local_file``)."""
    def opener(rel, start):
        return open_local_file(os.path.join(path, rel), start)
    return opener


def pod_opener(target, path, chunk_size=READ_SIZE):
    """Stream files out of the pod: ``cat`` (or ``tail -c +N`` from an offset)."""
    def opener(rel, start):
        full = path.rstrip('/') + '/' + rel
        argv = ['cat', full] if not start else ['tail', '-c', '+%d' % (start + 1), full]
        try:
            return target.exec_stream(argv, chunk_size=chunk_size)
        except TypeError:
            return target.exec_stream(argv)
    return opener


def inspect_local(path, verify='none', live=None, now=None, deadline=None):
    """List and verify a local WAL directory. Returns (listing, report)."""
    listing = list_local(path, now=now)
    if live is None:
        live = guess_live(listing)
    report = verify_listing(listing, verify, local_opener(path), live=live, deadline=deadline)
    return listing, report


def wal_facts(listing, report):
    """The ``wal`` return value: listing facts plus what verification found."""
    facts = listing.summary()
    vf = report.verify_facts()
    facts['compression'] = vf['compression'] if report.results else None
    facts['corruptions'] = report.corruptions()
    facts['corruptions_total'] = report.corruptions_total()
    facts['verified_bytes'] = vf['verified_bytes']
    known = set(u['file'] for u in facts['unreadable_files'])
    facts['unreadable_files'] = facts['unreadable_files'] + [
        {'file': s['file'], 'reason': s['reason']} for s in report.skipped if s['file'] not in known]
    facts['crc_implementation'] = CRC_IMPLEMENTATION
    facts['verify'] = vf
    return facts


def detect_compression_local(listing, path, verifier=None):
    """verify: none still names the compression: verify the first page of the last segment."""
    if not listing.segments:
        return None
    name = listing.segments[-1][1]
    verifier = verifier or Verifier(read_size=PAGE_SIZE)
    try:
        with open_local_file(os.path.join(path, name)) as handle:
            res = verifier.verify(_Limited(handle, PAGE_SIZE), name, last=True, live=True)
    except (OSError, UnreadableFile):
        return None
    comp = [0, 0, 0, 0]
    for i, v in enumerate(res.compression):
        comp[i & 3] += v
    name = compression_name(comp)
    return None if name == 'unknown' else name


class _Limited:
    def __init__(self, handle, limit):
        self.handle = handle
        self.left = limit

    def readinto(self, buf):
        if self.left <= 0:
            return 0
        n = self.handle.readinto(buf[:min(len(buf), self.left)])
        self.left -= n
        return n


# --------------------------------------------------------------------------- checks

WAL_CHECK_IDS = ('WAL-SIZE', 'WAL-HEALTH', 'PVC', 'WAL-ROTATION')


def wal_thresholds(user=None):
    """The WAL checks' thresholds: the catalog's (checks.py), the user's over them."""
    return _checks.merge_thresholds(user or {})


def _human(n):
    if n is None:
        return '?'
    n = float(n)
    for unit in ('B', 'KiB', 'MiB', 'GiB', 'TiB'):
        if abs(n) < 1024 or unit == 'TiB':
            return ('%d %s' % (n, unit)) if unit == 'B' else ('%.1f %s' % (n, unit))
        n /= 1024.0
    return '%.1f TiB' % n  # pragma: no cover


def _hours(seconds):
    return '%.1f h' % (seconds / 3600.0)


def unknown_checks(reason, th=None):
    th = th or wal_thresholds()
    return [_check(cid, 'unknown', None, _threshold_of(cid, th), reason) for cid in WAL_CHECK_IDS]


def _threshold_of(cid, th):
    if cid == 'WAL-SIZE':
        return {'warning': th['wal_size_warning'], 'critical': th['wal_size_critical'],
                'volume_warning': th['wal_size_volume_warning'], 'volume_critical': th['wal_size_volume_critical']}
    if cid == 'PVC':
        return {'warning': th['pvc_warning'], 'critical': th['pvc_critical']}
    if cid == 'WAL-ROTATION':
        return {'warning': th['wal_rotation_warning_seconds'], 'critical': th['wal_rotation_critical_seconds']}
    return {'warning': 'checkpoint in progress for over %ds' % th['wal_checkpoint_tmp_warning_seconds'],
            'critical': 'any corruption'}


def wal_checks(facts, volume, th=None, verify='none'):
    """WAL-SIZE, WAL-HEALTH, PVC, WAL-ROTATION from the ``wal`` facts and the volume."""
    th = th or wal_thresholds()
    return [check_wal_size(facts, th, volume), check_wal_health(facts, th, verify), check_pvc(volume, th),
            check_wal_rotation(facts, th)]


def check_wal_size(facts, th, volume=None):
    """WAL-SIZE: the WAL's bytes, absolute and as a share of its volume's capacity (when known);
    the worse of the two."""
    size = facts.get('size_bytes')
    thr = _threshold_of('WAL-SIZE', th)
    if size is None:
        return _check('WAL-SIZE', 'unknown', None, thr, 'the WAL size could not be read')
    capacity = (volume or {}).get('capacity')
    share = float(size) / capacity if capacity else None
    what = 'WAL is %s in %d segment(s)' % (_human(size), facts.get('segment_count') or 0)
    if share is not None:
        what += ', %.1f%% of its %s volume' % (share * 100, _human(capacity))
    absolute = _checks.level(size, thr['warning'], thr['critical'])
    relative = _checks.level(share, thr['volume_warning'], thr['volume_critical']) if share is not None else 'ok'
    status = _checks.worst((absolute, relative))
    limit = None
    if status != 'ok':
        limit = _human(thr[status]) if absolute == status else '%d%% of the volume' % round(thr['volume_' + status] * 100)
    if status == 'critical':
        return _check('WAL-SIZE', status, size, thr,
                      '%s, over %s: truncation is failing or remote write is far behind; check WAL-ROTATION and RW-LAG before the '
                      'volume fills' % (what, limit))
    if status == 'warning':
        return _check('WAL-SIZE', status, size, thr,
                      '%s, over %s: look at remote-write lag, series churn and checkpoint failures' % (what, limit))
    return _check('WAL-SIZE', 'ok', size, thr, what)


def check_wal_health(facts, th, verify='none'):
    thr = _threshold_of('WAL-HEALTH', th)
    total = facts.get('corruptions_total') or 0
    corr = facts.get('corruptions') or []
    gaps = facts.get('non_sequential_segments') or []
    vf = facts.get('verify') or {}
    if total:
        first = corr[0] if corr else {}
        seg = [c for c in corr if c.get('kind', 'segment') == 'segment']
        cps = [c for c in corr if c.get('kind') == 'checkpoint']
        if seg:
            msg = ('%d corruption(s) in the WAL, first in segment %s at offset %d (%s): Prometheus repairs it at its next start by '
                   'cutting that segment there and deleting every newer segment (unsent samples in them are lost); '
                   'see repair_preview' % (total, seg[0]['segment'], seg[0]['offset'], seg[0]['reason']))
        else:
            msg = ''
        if cps:
            msg = (msg + '; ' if msg else '') + (
                'checkpoint file %s is corrupted at offset %d (%s): Prometheus does not repair checkpoints, the agent fails to '
                'start until the WAL is removed (data loss)' % (cps[0]['segment'], cps[0]['offset'], cps[0]['reason']))
        if not msg:
            msg = '%d corruption(s) in the WAL (%s)' % (total, first.get('reason'))
        return _check('WAL-HEALTH', 'critical', total, thr, msg)
    if gaps:
        return _check('WAL-HEALTH', 'critical', 0, thr,
                      'segments missing from the WAL (%s): Prometheus cannot replay it and fails to start' % ', '.join(gaps))
    if vf.get('error'):
        return _check('WAL-HEALTH', 'unknown', None, thr, 'the WAL could not be verified: %s' % vf['error'])
    unreadable = facts.get('unreadable_files') or []
    if unreadable:
        more = ' (and %d more)' % (len(unreadable) - 1) if len(unreadable) > 1 else ''
        return _check('WAL-HEALTH', 'unknown', None, thr, 'the WAL could not be %s: %s %s%s' % (
            'read' if verify == 'none' else 'verified', unreadable[0]['file'], unreadable[0]['reason'], more))
    stale = [c for c in facts.get('checkpoints_in_progress') or []
             if c.get('age_seconds') is not None and c['age_seconds'] > th['wal_checkpoint_tmp_warning_seconds']]
    if stale:
        return _check('WAL-HEALTH', 'warning', 0, thr,
                      '%s has been in progress for %s: a checkpoint failed or crashed (look for checkpoint failures in the logs and a '
                      'full volume)' % (stale[0]['name'], _hours(stale[0]['age_seconds'])))
    if verify == 'none':
        return _check('WAL-HEALTH', 'ok', None, thr, 'WAL structure looks sane; its contents were not verified (verify=none)')
    msg = 'no corruption in %s of WAL verified (%s)' % (_human(facts.get('verified_bytes') or 0), verify)
    torn = vf.get('torn_tail')
    if torn and vf.get('agent_running') is False:
        msg += ('; the last record of segment %s (at offset %s, %s) is torn: the agent stopped while writing it (a crash '
                'or a kill); Prometheus cuts it off at its next start and loses only that partial record'
                % (torn['segment'], torn.get('offset'), _human(torn.get('bytes'))))
    elif torn:
        msg += '; the last record of %s is being written' % torn['segment']
    return _check('WAL-HEALTH', 'ok', 0, thr, msg)


def check_pvc(volume, th):
    thr = _threshold_of('PVC', th)
    if not volume or volume.get('used_ratio') is None:
        return _check('PVC', 'unknown', None, thr, 'the usage of the WAL volume could not be read')
    ratio = volume['used_ratio']
    what = 'WAL volume %.1f%% used (%s of %s, %s free)' % (
        ratio * 100, _human(volume['used']), _human(volume['capacity']), _human(volume['available']))
    status = _checks.level(ratio, thr['warning'], thr['critical'])
    if status == 'critical':
        return _check('PVC', 'critical', ratio, thr,
                      what + ': a full volume stops WAL writes and checkpoints; grow the PVC or find why the WAL grows')
    if status == 'warning':
        return _check('PVC', 'warning', ratio, thr, what + ': plan to grow the PVC or reduce the WAL')
    return _check('PVC', 'ok', ratio, thr, what)


def check_wal_rotation(facts, th):
    thr = _threshold_of('WAL-ROTATION', th)
    age = facts.get('oldest_segment_age_seconds')
    cp = facts.get('checkpoint')
    if not facts.get('segment_count'):
        return _check('WAL-ROTATION', 'ok', None, thr, 'the WAL has no segments yet')
    if age is None:
        return _check('WAL-ROTATION', 'unknown', None, thr, 'the age of the oldest segment could not be read')
    cps = 'no checkpoint' if not cp else 'checkpoint %s is %s old' % (cp['name'], _hours(cp.get('age_seconds') or 0))
    what = 'oldest segment %s is %s old, %s' % (facts.get('first_segment'), _hours(age), cps)
    status = _checks.level(age, thr['warning'], thr['critical'])
    if status == 'critical':
        return _check('WAL-ROTATION', 'critical', age, thr,
                      what + ': no truncation for over %s; look for checkpoint/truncation failures and a full volume'
                      % _hours(thr['critical']))
    if status == 'warning':
        return _check('WAL-ROTATION', 'warning', age, thr,
                      what + ': older than retention max-time + truncate frequency (%s); truncation may be failing or '
                             'remote write is holding old segments' % _hours(thr['warning']))
    return _check('WAL-ROTATION', 'ok', age, thr, what)
