"""Sign text per the 1984 romanization rules, on hand-worked examples (one group per rule)."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from geo.placenames.errors import UnknownCategoryError
from geo.placenames.pinyin import (
    chinese_number,
    initials,
    romanize,
    sign_text,
    split_name,
    surname_reading,
    syllables,
)
from geo.placenames.tables import DATA_DIR, load_tables
from settings import divisions_dir


@pytest.mark.parametrize(
    ("name", "expected"),
    [
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
    ],
)
def test_proper_and_generic_are_written_apart(name, expected):
    assert romanize(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
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
    ],
)
def test_one_syllable_modifier_joins_the_related_part(name, expected):
    assert romanize(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"), [("河南路", "Henan Lu"), ("湖北路", "Hubei Lu"), ("大新路", "Daxin Lu")]
)
def test_direction_inside_a_two_character_proper_name_stays_in_it(name, expected):
    assert romanize(name) == expected


@pytest.mark.parametrize(
    ("name", "category", "expected"),
    [
        ("周口店", None, "Zhoukoudian"),
        ("东门", None, "Dongmen"),
        ("三元里", None, "Sanyuanli"),
        ("白石洲", "village", "Baishizhou"),
        ("白石洲", "natural_village", "Baishizhou"),
        ("石牌村", "natural_village", "Shipaicun"),
        ("石牌村", "village", "Shipai Cun"),  # the villagers' committee seat keeps its generic apart
        ("二道沟", None, "Erdaogou"),
    ],
)
def test_natural_villages_and_names_without_generic_are_one_word(name, category, expected):
    assert romanize(name, category=category) == expected


@pytest.mark.parametrize(
    ("name", "category", "expected"),
    [
        ("黑龙江省", None, "Heilongjiang Sheng"),
        ("都江堰市", None, "Dujiangyan Shi"),
        ("景德镇市", None, "Jingdezhen Shi"),
        ("景德镇", "prefecture", "Jingdezhen"),  # 镇 is no prefecture generic: it belongs to the proper name
        ("青铜峡市", None, "Qingtongxia Shi"),
    ],
)
def test_a_generic_that_became_proper_is_written_with_it(name, category, expected):
    assert romanize(name, category=category) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("张之洞路", "Zhangzhidong Lu"),
        ("左权县", "Zuoquan Xian"),
        ("中山路", "Zhongshan Lu"),
    ],
)
def test_person_names_are_joined(name, expected):
    assert romanize(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("三八路", "Sanba Lu"),
        ("五一路", "Wuyi Lu"),
        ("八一大道", "Bayi Dadao"),
        ("五指山", "Wuzhi Shan"),
        (
            "二十一巷",
            "21 Xiang",
        ),  # a bare counted numeral before a street generic is its ordinal: rule 7's 二马路 2 Malu
        ("经五路", "Jing 5 Lu"),
        ("中山二路", "Zhongshan 2 Lu"),
        ("建设六马路", "Jianshe 6 Malu"),
        ("陈家十二巷", "Chenjia 12 Xiang"),
        ("福安里三巷", "Fu'anli 3 Xiang"),
    ],
)
def test_numbers_spelled_out_except_street_ordinals(name, expected):
    assert romanize(name) == expected


def test_fixed_spellings_win_over_derived_text():
    assert romanize("东四十二条") == "Dongsi 12 Tiao"  # rule 7's own example
    assert romanize("东四十条") == "Dongsi 10 Tiao"  # the same rule: the tenth 条 of 东四
    assert romanize("一五一医院") == "151 Yiyuan"  # rule 7: a code, which only the table can tell from a date
    derived = dataclasses.replace(load_tables(), fixed={})
    # why the rows are in the table: derived text takes 东 for an ordinal stem and 四十 for the ordinal,
    # and spells out 一五一 (a digit run without 〇 may be a date such as 一二九)
    assert romanize("东四十条", tables=derived) == "Dong 40 Tiao"
    assert romanize("一五一医院", tables=derived) == "Yiwuyi Yiyuan"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("五", 5),
        ("十", 10),
        ("十二", 12),
        ("二十", 20),
        ("二十一", 21),
        ("一百零五", 105),
        ("一五一", 151),
    ],
)
def test_chinese_number(text, value):
    assert chinese_number(text) == value


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("西安", "Xi'an"),
        ("天峨", "Tian'e"),
        ("建瓯", "Jian'ou"),
        ("延安路", "Yan'an Lu"),
        ("仁爱路", "Ren'ai Lu"),
        ("安定门", "Andingmen"),  # no apostrophe at the start of a word
        ("天河区", "Tianhe Qu"),  # nor at a word boundary
        ("鄂州市", "Ezhou Shi"),
    ],
)
def test_apostrophe_and_capitals(name, expected):
    assert romanize(name) == expected


def test_u_umlaut_is_kept_and_no_english_words():
    assert romanize("绿化路") == "Lühua Lu"
    texts = [
        romanize(n) for n in ("人民路", "深南大道", "幸福巷", "人民广场", "人民公园", "人民大桥", "长安街")
    ]
    assert not any(
        word in t for t in texts for word in ("Road", "Street", "Avenue", "Lane", "Square", "Park")
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
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
    ],
)
def test_polyphonic_characters_in_place_names(name, expected):
    assert romanize(name) == expected


def test_override_table_is_applied_first():
    plain = dataclasses.replace(load_tables(), polyphones={}, surnames={})
    assert romanize("会稽山", tables=plain) == "Huiji Shan"  # pypinyin alone gets it wrong
    custom = dataclasses.replace(load_tables(), polyphones={"石牌": ("shi", "bai")})
    assert romanize("石牌村", tables=custom) == "Shibai Cun"


def test_syllables_align_with_characters():
    assert syllables("EE新城") == ["E", "E", "xin", "cheng"]
    assert syllables("人民路") == ["ren", "min", "lu"]
    assert initials("人民路") == "rml"


def test_sign_text_fields():
    text = sign_text("解放北路")
    assert (text.chinese, text.pinyin, text.proper, text.generic) == (
        "解放北路",
        "Jiefang Beilu",
        "解放",
        "北路",
    )
    assert text.sign == "解放北路\nJiefang Beilu"
    assert split_name("中山二路").ordinal == "二"


def test_unknown_category_names_the_fix():
    with pytest.raises(UnknownCategoryError, match="categories.csv"):
        sign_text("人民路", category="street_thing")


# -- readings: one-character table entries yield to pypinyin's dictionary words ----------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("音乐路", "Yinyue Lu"),  # 音乐 music: not the 乐 le of 乐昌
        ("乐府路", "Yuefu Lu"),
        ("广厦路", "Guangsha Lu"),  # 广厦 mansion: not the 厦 xia of 岗厦
        ("汹涌路", "Xiongyong Lu"),  # 汹涌 surging: not the river branch 涌 chong
        ("成长路", "Chengzhang Lu"),  # 成长 growth: not the 长 chang of 长岗
    ],
)
def test_a_character_entry_yields_to_a_dictionary_word(name, expected):
    assert romanize(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("长安街", "Chang'an Jie"),
        ("重庆路", "Chongqing Lu"),
        ("厦门路", "Xiamen Lu"),
        ("堡子村", "Buzi Cun"),
        ("会同村", "Huitong Cun"),
        ("银行街", "Yinhang Jie"),
        ("乐昌", "Lechang"),
        ("番禺", "Panyu"),
        ("东涌", "Dongchong"),
        ("涌口村", "Chongkou Cun"),
        ("民乐村", "Minle Cun"),  # a two-character entry beats pypinyin's word 民乐 (folk music, minyue)
        ("礼乐街道", "Lile Jiedao"),
        ("马尾", "Mawei"),
        ("万重山", "Wanchong Shan"),  # layered 重 chong, not only in 重庆
        ("重工路", "Zhonggong Lu"),  # ...but heavy industry 重工 stays zhong
        ("第九弄", "Di-9 Long"),  # rule 7's example: lane 弄 long, ordinal after 第
    ],
)
def test_place_name_readings_still_hold(name, expected):
    assert romanize(name) == expected


def test_a_prefix_does_not_make_a_word_across_the_boundary():
    # 县长 (county head) and 镇长 are pypinyin words; in 东源县长坑村 the 长 begins the village name
    assert syllables("东源县长坑村")[3] == "chang"
    assert syllables("白土镇长坑社区")[3] == "chang"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("曾边村", "Zengbian Cun"),
        ("曾屋村", "Zengwu Cun"),
        ("四家曾村", "Sijiazeng Cun"),
        ("单家村", "Shanjia Cun"),
        ("单屋村", "Shanwu Cun"),
        ("解家村", "Xiejia Cun"),
        ("区庄", "Ouzhuang"),
        ("区屋社区", "Ouwu Shequ"),
    ],
)
def test_surnames_read_as_surnames(name, expected):
    assert romanize(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("解放路", "Jiefang Lu"),  # 解 only before a clan word at the start
        ("单竹坑", "Danzhukeng"),
        ("郊区村", "Jiaoqu Cun"),  # 区 before 村 is a district, not the surname Ou
        ("社区家园", "Shequ Jiayuan"),  # a start-only entry (区家) does not apply mid-name
    ],
)
def test_surname_readings_stay_where_they_belong(name, expected):
    assert romanize(name) == expected


def test_every_real_guangdong_name_with_zeng_reads_zeng(divisions_names):
    with_zeng = divisions_names[divisions_names.str.contains("曾")]
    assert len(with_zeng) == 21  # 20 villages/communities and the town 曾田镇
    readings = {n: [r for c, r in zip(n, syllables(n), strict=True) if c == "曾"] for n in with_zeng}
    assert all(set(r) == {"zeng"} for r in readings.values()), readings


@pytest.fixture(scope="module")
def divisions_names():
    folder = divisions_dir()
    if not folder.exists():
        pytest.skip(f"real division names not found at {folder}")
    return pd.concat(
        [
            pd.read_csv(folder / f, dtype=str, keep_default_na=False)["name"]
            for f in ("guangdong_villages_communities.csv", "guangdong_towns_streets.csv")
        ]
    )


# -- multi-syllable modifiers and ethnic words are words of their own (rule 2) ---------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("连南瑶族自治县", "Liannan Yaozu Zizhixian"),
        ("下帅壮族瑶族乡", "Xiashuai Zhuangzu Yaozu Xiang"),
        ("三都水族自治县", "Sandu Shuizu Zizhixian"),
        ("漳溪畲族乡", "Zhangxi Shezu Xiang"),
        ("海珠湿地公园", "Haizhu Shidi Gongyuan"),
        ("海珠国家湿地公园", "Haizhu Guojia Shidi Gongyuan"),
        ("白云山森林公园", "Baiyunshan Senlin Gongyuan"),  # the generic 森林公园 splits the same way
        ("西藏自治区", "Xizang Zizhiqu"),  # rule 1's example: a multi-syllable generic is one word
        ("北京路步行街", "Beijinglu Buxingjie"),  # rule 4: 解放路南小街 Jiefanglu Nanxiaojie
    ],
)
def test_multi_syllable_modifiers_are_written_apart(name, expected):
    assert romanize(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("文化路", "Wenhua Lu"),  # the descriptor is the whole proper name
        ("瑶族村", "Yaozu Cun"),
        (
            "东乡族自治县",
            "Dongxiangzu Zizhixian",
        ),  # the county is named after the people: nothing else is left
        ("西族村", "Xizu Cun"),  # 西族 is no ethnic group
    ],
)
def test_descriptors_that_are_the_name_stay_in_it(name, expected):
    assert romanize(name) == expected


def test_split_name_lists_descriptors():
    parts = split_name("下帅壮族瑶族乡")
    assert (parts.proper, parts.descriptors, parts.generic) == ("下帅", ("壮族", "瑶族"), "乡")
    text = sign_text("连南瑶族自治县")
    assert (text.proper, text.generic) == ("连南", "瑶族自治县")


# -- codes and street ordinals (rule 7) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("三〇一医院", "301 Yiyuan"),  # a run holding 〇 is a code
        ("解放军三〇一医院", "Jiefangjun 301 Yiyuan"),
        ("1203高地", "1203 Gaodi"),  # rule 7's example
        ("九二一社区", "Jiu'eryi Shequ"),  # a date-like run without 〇 is spelled out (real Guangdong name)
    ],
)
def test_codes_are_arabic_numerals(name, expected):
    assert romanize(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("经五路", "Jing 5 Lu"),  # rule 7's example: an ordinal stem
        ("东二巷", "Dong 2 Xiang"),
        ("横一路", "Heng 1 Lu"),
        ("大川淀一巷", "Dachuandian 1 Xiang"),  # rule 7's example: a proper name of two or more characters
        ("二马路", "2 Malu"),  # rule 7's example: nothing before the numeral
        ("建设六马路", "Jianshe 6 Malu"),
    ],
)
def test_street_ordinals_are_arabic_numerals(name, expected):
    assert romanize(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("上下九路", "Shangxiajiu Lu"),  # 上下 is two modifiers, no proper name: 上下九 is the name
        ("天一路", "Tianyi Lu"),  # one character that is no ordinal stem
        ("上九路", "Shangjiu Lu"),
        ("下九路", "Xiajiu Lu"),
        ("统一路", "Tongyi Lu"),
        ("八一路", "Bayi Lu"),  # a digit-by-digit pair is a date (rule 6: 三八路 Sanba Lu)
        ("十三行路", "Shisanhang Lu"),  # the numeral does not end the proper part
    ],
)
def test_numerals_inside_the_name_are_spelled_out(name, expected):
    assert romanize(name) == expected


@pytest.mark.parametrize(
    ("name", "category", "expected"),
    [
        ("九江", None, "Jiujiang"),  # a numeral alone is no proper name: one word
        ("三河", None, "Sanhe"),
        ("九江市", None, "Jiujiang Shi"),
        ("珠江", None, "Zhu Jiang"),  # rule 10's example: a one-character proper name keeps its generic apart
        ("汾河", None, "Fen He"),  # rule 1's example
        ("五一广场", None, "Wuyi Guangchang"),  # rule 6's example: two numerals are a name
    ],
)
def test_a_single_numeral_is_not_a_proper_part(name, category, expected):
    assert romanize(name, category=category) == expected


# --- generic-name lexicon of buildings, estates and streets (longest match of 专名 + 通名) ----------
@pytest.mark.parametrize(
    ("name", "category", "expected"),
    [
        ("东湖雅居", "estate", "Donghu Yaju"),  # 雅居 is one generic word, not 雅 + 居
        ("皇庭御府", "estate", "Huangting Yufu"),
        ("中央公馆", "estate", "Zhongyang Gongguan"),
        ("8号公馆", "building", "8 Hao Gongguan"),  # a code in Arabic numerals is a word of its own (rule 7)
        ("凤鸣商厦", "building", "Fengming Shangsha"),
        ("凤鸣大厦", "building", "Fengming Dasha"),
        ("锦绣华庭", "estate", "Jinxiu Huating"),
        ("星河湾", "estate", "Xinghe Wan"),  # 湾 as an estate generic
        ("时代广场", "building", "Shidai Guangchang"),  # a misfit generic is flagged (大) yet written apart
        ("人民医院", "building", "Renmin Yiyuan"),
    ],
)
def test_building_and_estate_generics_split_longest_first(name, category, expected):
    assert romanize(name, category=category) == expected


def test_a_longer_generic_wins_over_its_last_character():
    t = load_tables()
    assert {"雅居", "居", "御府", "府", "商厦", "公馆"} <= set(t.generics)
    without = dataclasses.replace(t, generics={k: v for k, v in t.generics.items() if k != "雅居"})
    # what the short match gives
    assert romanize("东湖雅居", category="estate", tables=without) == "Donghuya Ju"


# --- surnames: 百家姓 readings where a surname opens a 家/屋/厝/寨/庄/村/巷 name ----------------------
@pytest.mark.parametrize(
    ("name", "category", "expected"),
    [
        ("翟家庄", "natural_village", "Zhaijiazhuang"),
        ("单家村", "natural_village", "Shanjiacun"),
        ("单家村", "village", "Shanjia Cun"),
        ("区家巷", "lane", "Oujia Xiang"),
        ("曾屋", "natural_village", "Zengwu"),
        ("解家寨", "natural_village", "Xiejiazhai"),
        ("仇庄", "natural_village", "Qiuzhuang"),
        ("尉迟庄", "natural_village", "Yuchizhuang"),  # a compound surname wins over 尉
        ("覃家村", "natural_village", "Qinjiacun"),
    ],
)
def test_surname_readings_before_family_place_words(name, category, expected):
    assert romanize(name, category=category) == expected


@pytest.mark.parametrize(
    ("name", "expected"), [("翟山", "Di Shan"), ("单元路", "Danyuan Lu"), ("查家", None)]
)
def test_surname_reading_applies_only_before_family_place_words(name, expected):
    if expected is None:  # 查家 opens with a surname before 家: it applies
        assert surname_reading(name) == ("查", ("zha",))
    else:
        assert surname_reading(name) is None and romanize(name) == expected


def test_surname_table_rows_have_one_syllable_each_and_differ_from_the_plain_reading():
    t = load_tables()
    assert {"翟", "单", "区", "仇", "解", "查", "曾", "覃"} <= set(t.surnames)
    # without the table the plain reading is the wrong one: the rows are needed
    plain = dataclasses.replace(t, surnames={})
    assert romanize("翟家庄", category="natural_village", tables=plain) == "Dijiazhuang"


# --- places whose official spelling has a special reading ------------------------------------------
@pytest.mark.parametrize(
    ("name", "category", "expected"),
    [
        ("大埔县", None, "Dabu Xian"),
        ("黄埔区", None, "Huangpu Qu"),
        ("番禺区", None, "Panyu Qu"),
        ("麻涌镇", "town", "Machong Zhen"),
        ("塘厦镇", "town", "Tangxia Zhen"),
        ("石咀镇", "town", "Shizui Zhen"),
        ("纸行路", None, "Zhihang Lu"),
        ("米行街", None, "Mihang Jie"),
        ("长堤大马路", None, "Changdi Damalu"),
        ("浚县", None, "Xun Xian"),
        ("六安市", None, "Lu'an Shi"),
        ("乐亭县", None, "Laoting Xian"),
    ],
)
def test_special_official_readings(name, category, expected):
    assert romanize(name, category=category) == expected


def test_place_readings_come_from_their_table():
    t = load_tables()
    assert t.place_readings["纸行"] == ("zhi", "hang") and t.polyphones["纸行"] == ("zhi", "hang")
    assert romanize("纸行路", tables=dataclasses.replace(t, polyphones={})) == "Zhixing Lu"


def test_place_reading_towns_are_in_the_division_list():
    towns = pd.read_csv(divisions_dir() / "guangdong_towns_streets.csv", dtype=str)
    names = set(towns["name"]) | set(towns["county_name"])
    rows = pd.read_csv(DATA_DIR / "place_readings.csv", dtype=str)
    guangdong = rows[rows["source"].str.contains("广州|深圳|东莞|佛山|中山|惠州|江门|肇庆|梅州|韶关")]
    for name in guangdong[guangdong["kind"].isin(["county", "town"])]["name"]:
        assert any(name in n for n in names), name
