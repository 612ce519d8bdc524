"""Sign text per the 1984 romanization rules, on hand-worked examples (one group per rule)."""

from __future__ import annotations

import dataclasses

import pytest

from geo.placenames.errors import UnknownCategoryError
from geo.placenames.pinyin import chinese_number, initials, romanize, sign_text, split_name, syllables
from geo.placenames.tables import load_tables


@pytest.mark.parametrize(("name", "expected"), [
    ("人民路", "Renmin Lu"),
    ("深南大道", "Shennan Dadao"),
    ("天河区", "Tianhe Qu"),
    ("翠洲社区", "Cuizhou Shequ"),
    ("中山街道", "Zhongshan Jiedao"),
    ("白云山", "Baiyun Shan"),
    ("珠江", "Zhu Jiang"),
    ("长江", "Chang Jiang"),
    ("海南岛", "Hainan Dao"),
    ("王府井大街", "Wangfujing Dajie"),
])
def test_proper_and_generic_are_written_apart(name, expected):
    assert romanize(name) == expected


@pytest.mark.parametrize(("name", "expected"), [
    ("景山后街", "Jingshan Houjie"),
    ("解放北路", "Jiefang Beilu"),
    ("天河北路", "Tianhe Beilu"),
    ("新港西路", "Xingang Xilu"),
    ("东直门北小街", "Dongzhimen Beixiaojie"),  # two one-syllable modifiers join the generic
    ("朝阳门内大街", "Chaoyangmennei Dajie"),  # 内 qualifies the gate before it
    ("西辽河", "Xiliao He"),  # 西 qualifies the proper name
    ("西长安街", "Xichang'an Jie"),
    ("东湖新村", "Donghu Xincun"),
    ("中山大道西", "Zhongshan Dadaoxi"),  # a modifier after the generic joins it
])
def test_one_syllable_modifier_joins_the_related_part(name, expected):
    assert romanize(name) == expected


@pytest.mark.parametrize(("name", "expected"), [("河南路", "Henan Lu"), ("湖北路", "Hubei Lu"), ("大新路", "Daxin Lu")])
def test_direction_inside_a_two_character_proper_name_stays_in_it(name, expected):
    assert romanize(name) == expected


@pytest.mark.parametrize(("name", "category", "expected"), [
    ("周口店", None, "Zhoukoudian"),
    ("东门", None, "Dongmen"),
    ("三元里", None, "Sanyuanli"),
    ("白石洲", "village", "Baishizhou"),
    ("白石洲", "natural_village", "Baishizhou"),
    ("石牌村", "natural_village", "Shipaicun"),
    ("石牌村", "village", "Shipai Cun"),  # the villagers' committee seat keeps its generic apart
    ("二道沟", None, "Erdaogou"),
])
def test_natural_villages_and_names_without_generic_are_one_word(name, category, expected):
    assert romanize(name, category=category) == expected


@pytest.mark.parametrize(("name", "category", "expected"), [
    ("黑龙江省", None, "Heilongjiang Sheng"),
    ("都江堰市", None, "Dujiangyan Shi"),
    ("景德镇市", None, "Jingdezhen Shi"),
    ("景德镇", "prefecture", "Jingdezhen"),  # 镇 is no prefecture generic: it belongs to the proper name
    ("青铜峡市", None, "Qingtongxia Shi"),
])
def test_a_generic_that_became_proper_is_written_with_it(name, category, expected):
    assert romanize(name, category=category) == expected


@pytest.mark.parametrize(("name", "expected"), [
    ("张之洞路", "Zhangzhidong Lu"),
    ("左权县", "Zuoquan Xian"),
    ("中山路", "Zhongshan Lu"),
])
def test_person_names_are_joined(name, expected):
    assert romanize(name) == expected


@pytest.mark.parametrize(("name", "expected"), [
    ("三八路", "Sanba Lu"),
    ("五一路", "Wuyi Lu"),
    ("八一大道", "Bayi Dadao"),
    ("五指山", "Wuzhi Shan"),
    ("二十一巷", "Ershiyi Xiang"),  # no proper part left: the number is the name
    ("经五路", "Jing 5 Lu"),
    ("中山二路", "Zhongshan 2 Lu"),
    ("建设六马路", "Jianshe 6 Malu"),
    ("陈家十二巷", "Chenjia 12 Xiang"),
    ("福安里三巷", "Fu'anli 3 Xiang"),
])
def test_numbers_spelled_out_except_street_ordinals(name, expected):
    assert romanize(name) == expected


def test_fixed_spellings_win_over_derived_text():
    assert romanize("东四十条") == "Dongsi 10 Tiao"
    assert romanize("上九路") == "Shangjiu Lu"
    derived = dataclasses.replace(load_tables(), fixed={})
    assert romanize("东四十条", tables=derived) == "Dong 40 Tiao"  # why the rule example is in the table


@pytest.mark.parametrize(("text", "value"), [
    ("五", 5), ("十", 10), ("十二", 12), ("二十", 20), ("二十一", 21), ("一百零五", 105), ("一五一", 151),
])
def test_chinese_number(text, value):
    assert chinese_number(text) == value


@pytest.mark.parametrize(("name", "expected"), [
    ("西安", "Xi'an"),
    ("天峨", "Tian'e"),
    ("建瓯", "Jian'ou"),
    ("延安路", "Yan'an Lu"),
    ("仁爱路", "Ren'ai Lu"),
    ("安定门", "Andingmen"),  # no apostrophe at the start of a word
    ("天河区", "Tianhe Qu"),  # nor at a word boundary
    ("鄂州市", "Ezhou Shi"),
])
def test_apostrophe_and_capitals(name, expected):
    assert romanize(name) == expected


def test_u_umlaut_is_kept_and_no_english_words():
    assert romanize("绿化路") == "Lühua Lu"
    texts = [romanize(n) for n in ("人民路", "深南大道", "幸福巷", "人民广场", "人民公园", "人民大桥", "长安街")]
    assert not any(word in t for t in texts for word in ("Road", "Street", "Avenue", "Lane", "Square", "Park"))


@pytest.mark.parametrize(("name", "expected"), [
    ("重庆", "Chongqing"),
    ("厦门", "Xiamen"),
    ("番禺区", "Panyu Qu"),
    ("长安街", "Chang'an Jie"),
    ("乐清市", "Yueqing Shi"),
    ("乐昌市", "Lechang Shi"),
    ("六安市", "Lu'an Shi"),
    ("六合区", "Luhe Qu"),
    ("吴堡县", "Wubu Xian"),
    ("十里堡", "Shilipu"),
    ("会稽山", "Kuaiji Shan"),
    ("蚌埠市", "Bengbu Shi"),
    ("洪洞县", "Hongtong Xian"),
    ("单县", "Shan Xian"),
    ("曲阜市", "Qufu Shi"),
    ("大埔县", "Dabu Xian"),
    ("东涌镇", "Dongchong Zhen"),
    ("长洲岛", "Changzhou Dao"),
    ("长岗村", "Changgang Cun"),
    ("长子县", "Zhangzi Xian"),
    ("民乐村", "Minle Cun"),
    ("六都", "Liudu"),
    ("岗厦", "Gangxia"),
    ("国贸大厦", "Guomao Dasha"),
    ("十三行路", "Shisanhang Lu"),
])
def test_polyphonic_characters_in_place_names(name, expected):
    assert romanize(name) == expected


def test_override_table_is_applied_first():
    plain = dataclasses.replace(load_tables(), polyphones={})
    assert romanize("会稽山", tables=plain) == "Huiji Shan"  # pypinyin alone gets it wrong
    custom = dataclasses.replace(load_tables(), polyphones={"石牌": ("shi", "bai")})
    assert romanize("石牌村", tables=custom) == "Shibai Cun"


def test_syllables_align_with_characters():
    assert syllables("EE新城") == ["E", "E", "xin", "cheng"]
    assert syllables("人民路") == ["ren", "min", "lu"]
    assert initials("人民路") == "rml"


def test_sign_text_fields():
    text = sign_text("解放北路")
    assert (text.chinese, text.pinyin, text.proper, text.generic) == ("解放北路", "Jiefang Beilu", "解放", "北路")
    assert text.sign == "解放北路\nJiefang Beilu"
    assert split_name("中山二路").ordinal == "二"


def test_unknown_category_names_the_fix():
    with pytest.raises(UnknownCategoryError, match="categories.csv"):
        sign_text("人民路", category="street_thing")
