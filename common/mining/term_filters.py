"""Junk rules for mined term candidates: edges, digits, markup, form fragments.

New-word discovery on real documents finds many strings that are frequent, cohesive
and free at both ends but are not terms: phrases glued to a function character
(应检查, 的绝缘), numbers and list markers (5分, 2号), Word field codes that leaked
into the text (HYPERLINK, PAGEREF, _Toc123, MERGEFORMAT) and table-cell labels of
forms (验收人签字). These rules were written by hand from reading the corpus, not
learnt from any gold list.
"""

from __future__ import annotations

import re

# characters that (almost) never start / end a Chinese technical term
LEADING_FUNCTION_CHARS = frozenset("的了和与及或在是为将由从把应须需且也都而其之以于这那各每该此如若即则所给向使请能会就还再又已")
TRAILING_FUNCTION_CHARS = frozenset("的了和与及或等在是为将由从把被应须需并且也都而其之以于这那各每该此如若按即则所给向使请可能会就还再又已均时中后前上下内对个要有无不")
# "无锈蚀", "无异常": inspection verdicts, not terms; these 无- words are terms
NEGATION_PREFIX = "无"
NEGATION_TERMS = ("无功", "无载", "无源", "无线", "无油", "无人", "无间隙", "无机", "无刷", "无励磁")
# Word field codes and other document markup (matched case-insensitively)
MARKUP = ("hyperlink", "pageref", "mergeformat", "toc", "shape", "embed", "formtext",
          "formcheckbox", "seq", "ref", "http", "www")
# table-cell labels of forms and score sheets
FORM_SUFFIXES = ("签字", "签名", "签章", "盖章", "日期", "扣分", "得分", "分值", "填写", "填报", "编号", "序号")
FORM_INFIXES = ("人签", "年月日", "审核人", "负责人")

_CJK = r"\u4e00-\u9fff\u3400-\u4dbf"
_DIGIT_AFTER_CJK = re.compile(f"[{_CJK}][0-9]")
_NUMBER_UNIT = re.compile(r"[0-9]+[A-Za-z]{1,3}")  # 110kV, 5min, 100A: quantities with a unit
_LOWER_RUN = re.compile(r"[a-z]{3,}")
_ASCII_ONLY = re.compile(r"[0-9A-Za-z]+")
_REPEAT = re.compile(r"(.)\1\1")


def junk_reason(word: str, min_len: int = 2, max_len: int = 10) -> str:
    """The first rule that rejects ``word``, or ``''`` if none does.

    Rules, in order: ``length`` (outside ``[min_len, max_len]``), ``markup``,
    ``leading`` / ``trailing`` function character, ``negation`` (无锈蚀),
    ``digit_start`` (a number not
    followed by an ASCII unit: 5分, 2号 go, 110kV stays), ``digit_after_cjk``
    (list numbers glued to words: 主变1, 第3), ``ascii`` (pure ASCII longer than 6 or
    with a lowercase run of 3+, which is prose or code), ``repeat`` (aaa), ``form``.
    """
    if not (min_len <= len(word) <= max_len):
        return "length"
    low = word.lower()
    if any(m in low for m in MARKUP):
        return "markup"
    if word[0] in LEADING_FUNCTION_CHARS:
        return "leading"
    if word[-1] in TRAILING_FUNCTION_CHARS:
        return "trailing"
    if word.startswith(NEGATION_PREFIX) and not word.startswith(NEGATION_TERMS):
        return "negation"
    if word[0].isdigit() and not _NUMBER_UNIT.fullmatch(word):
        return "digit_start"
    if _DIGIT_AFTER_CJK.search(word):
        return "digit_after_cjk"
    if _ASCII_ONLY.fullmatch(word) and (len(word) > 6 or _LOWER_RUN.search(word)):
        return "ascii"
    if _REPEAT.search(word):
        return "repeat"
    if word.endswith(FORM_SUFFIXES) or any(f in word for f in FORM_INFIXES):
        return "form"
    return ""


def is_junk(word: str, min_len: int = 2, max_len: int = 10) -> bool:
    """True when :func:`junk_reason` rejects the word."""
    return bool(junk_reason(word, min_len, max_len))
