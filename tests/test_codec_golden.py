"""Golden wire bytes: the codec's payloads (and their decodings) for fixed seeded states, pinned by SHA-256.

The digests were computed with the single-module codec of commit 0216da0; any change to the wire format, the
packing, the rounding or the reconstruction of an existing spec fails here. Specs cover every scheme and option:
``full``, ``float`` (midpoint/truncate, odd splits), ``uniform`` (block sizes incl. blocks straddling the 2**18
element chunks, 1..31 bits, every packing path, truncate reconstruction, stochastic rounding with two seeds).
"""
import hashlib
from collections import OrderedDict

import numpy as np
import pytest
import torch

from syft_fl.codec import decode_tiers, encode_tiers, tier_sizes


def golden_state() -> "OrderedDict[str, torch.Tensor]":
    """Every dtype the codec takes, an empty tensor, odd sizes, exact zeros and a tensor crossing a chunk."""
    rng = np.random.default_rng(20261128)
    big = rng.standard_normal(300_001).astype(np.float32) * 0.01
    big[rng.random(big.size) < 0.1] = 0.0  # exact zeros, as in real updates
    big[7] = -0.0
    return OrderedDict(
        [
            ("conv.weight", torch.from_numpy(rng.standard_normal((8, 1, 5, 5)).astype(np.float32))),
            ("conv.bias", torch.from_numpy(rng.standard_normal(8).astype(np.float32) * 1e-3)),
            ("steps", torch.tensor(1234567, dtype=torch.int64)),
            ("half", torch.from_numpy(rng.standard_normal(37).astype(np.float16))),
            ("double", torch.from_numpy(rng.standard_normal((3, 7)) * 1e5)),
            ("brain", torch.from_numpy(rng.standard_normal(19).astype(np.float32)).to(torch.bfloat16)),
            ("empty", torch.zeros(0, 3)),
            ("mask", torch.from_numpy(rng.random(13) < 0.5)),
            ("tiny", torch.from_numpy(np.array([1e-40, -3e-39, 0.0, 2e-45], np.float32))),
            ("big", torch.from_numpy(big)),
            ("zeros", torch.zeros(11)),
            ("bytes", torch.from_numpy(rng.integers(0, 255, 9).astype(np.uint8))),
        ]
    )


# (spec, seed) -> (sha256 of each tier payload, sha256 of the decoding of each prefix)
GOLDEN = {
    ('full', 0): (
        [
            '06bf4fb88feade92c9ff1f369ccd686c87011a87ddacb043c8aa6010e0423e3b',
        ],
        [
            'b5e0463b9aa443948e643760f40f58c4a811492569286ef1eeca866064ceec2a',
        ],
    ),
    ('float:32', 0): (
        [
            '7fcf7189e0ac0a940715f8f96c9f8616dfa99e66f6999a1ea5a2c412636019d5',
        ],
        [
            'eb06e9ef52b9e0266fb575987bab529233246676fd307be44bbee23d47998d80',
        ],
    ),
    ('float:9', 0): (
        [
            '70c61d334547e6cfad571119efc2cdbf1f6205caacc314c214b4c0f0299b3f0a',
        ],
        [
            '0682468923952143f2a98b348ebe849ef62fbd18abd13b7ef56b0e6cc75be812',
        ],
    ),
    ('float:16+16', 0): (
        [
            'a604fdeda81071f0d680cc40f69e0e66a737d8ca3c83920541085106b6ab685c',
            '153e228226aa2eec71561db9328ef6b849c2e867bdef07f5327a627c84f017f0',
        ],
        [
            '2847841ae3c1cca4f05d4e0ec56cf17a8352e4c96df4d1af0b2b22b711cf815a',
            'eb06e9ef52b9e0266fb575987bab529233246676fd307be44bbee23d47998d80',
        ],
    ),
    ('float:12+4+16', 0): (
        [
            '932e469ebe9a7d2138088f7c99c58f78189a482327c26f21a95a3050d1d2c327',
            'ae9da046bf59b9db788613eaf22c85bf9853a3c7c3324f2c70aa74a0017c72fd',
            'b7a66dce87b461fd82130bdec11790613b4032851ce2ba18e6684540c94edf99',
        ],
        [
            '1ea2d5685e5db0cdddcb1b00e4f1beace54c3931f515b20e044bd31db413ffde',
            '2847841ae3c1cca4f05d4e0ec56cf17a8352e4c96df4d1af0b2b22b711cf815a',
            'eb06e9ef52b9e0266fb575987bab529233246676fd307be44bbee23d47998d80',
        ],
    ),
    ('float:16+16,reconstruction=truncate', 0): (
        [
            '9053170bcf3000d7eab1356ee8fc71f4c304925f0e002ced1e2c6794aa61ba7e',
            '888fcd877348170787ff5fa117f194c9e6066c290861bc3bef7c779ce3283e51',
        ],
        [
            '75d68dcdef1b4253fa5e752a679565fed25eba1252ca4d9d5bc45031cd9f040d',
            'eb06e9ef52b9e0266fb575987bab529233246676fd307be44bbee23d47998d80',
        ],
    ),
    ('float:10+3+7', 0): (
        [
            '81cf60c95ef7198fb9d38d653da07f11f6bb555a82845314524863398bfa3305',
            '5a30f73648d30b9af7075f65585ec7f51ca0357194aa5eb3b77856676245761f',
            '3eec4790f9cf3f13648743b2659aacf601dd916bf9f13c18d0f5c73ad8ef1975',
        ],
        [
            '6fda49ef81306acadd5e7fd1865bc99ec0db9b7a81ed9c1120f7af8c0ff32688',
            'a19ab5f758722b16c8c67623410c85279b7ceaf7489b037585d89ad842b5d7aa',
            'b81f7cdd327683fc4e506f351e27e21dc2c58b5d261283fe575dabe7e827558c',
        ],
    ),
    ('uniform:8', 0): (
        [
            '7cb6446062c726e161ca66eda0c52b1778a465217ed747f6baceed2a7f3278cf',
        ],
        [
            'edfda70eacffc665eac3e7a50e7dc2fc401aeb3b13c6b9479ddb677f8c82a2a8',
        ],
    ),
    ('uniform:1', 0): (
        [
            '210edf2b8e19edea538dd2b94e77c6f5444f96815cca95d4b111a3de54a246a9',
        ],
        [
            'b27e587810e898e6c53dd30222c0f267f39c76805cef940c3629dddc3a61fc4d',
        ],
    ),
    ('uniform:2+2+4,block=256', 0): (
        [
            'de2ba90c3195a9d1fdf22ef20d94cd5351a1e12ec8924a7873f72f1f829335d3',
            '864ea83cc3a9a8875e5be1d62c85244fbc71eeeecda352da062e790f1e73bf19',
            '0c388c5c801ae62b7e7f879e970cc72b8055ba1352b3d53b65a2d96c065926be',
        ],
        [
            '3e1600f378c4d969d7cba238b841989c48fa0513d410e1b23ac02c332d944a9f',
            '182449f8f6b8a32866a5dea4d1aff1ac09294eb8a6dcb75a5347895ceaa832e0',
            '8348651319cea026370421aa27d0cf6b97260d9de7b3a8a528dab7aa762f0a7a',
        ],
    ),
    ('uniform:2+2+4', 0): (
        [
            'fe625d0cbd7ae672ed0a545e8a6efb5766fc108984ac1d685d9a40767d1c4ef6',
            'fab9b54aa884c02f6780dd88a279fe5799bbc6b141b7e1360be3295f0047920f',
            '317c86750bbf8d2120529ac9d1b03c098ab1df82a65c9b81032442b5367709c1',
        ],
        [
            'd66803c316342859ebf256d975547f1bbdaa6bcdb3031bd5dfd423440577b797',
            '98737955349ee0f739f43ae32376281d53d4053c34c2790474635b39c758e63e',
            'edfda70eacffc665eac3e7a50e7dc2fc401aeb3b13c6b9479ddb677f8c82a2a8',
        ],
    ),
    ('uniform:2+2+4,block=256,reconstruction=truncate', 0): (
        [
            'a3b659cb859498b9292322d237f5b68ffcf06c78bd42b0117036f7fc4699edcc',
            '33182bbf8a74d5a93eccb566ef16888f8e223d8ff9448d1deea9f8b6862cdcad',
            '988f242239cdc0e54714a1e398b8ffa67587b6194ec984710a9496ab8d0594e1',
        ],
        [
            '8f7c304b5e71fbfe42f9fb613c2aec29218a590a0360b47015a3f99b1160fb6c',
            '009ebac93f5f38a3c39c522d09926315a251f6172db3e440629a6841545f26eb',
            '56f3c992453128a854aeee7b339797a075111a7ba764443fed2ed0387b15726e',
        ],
    ),
    ('uniform:4+4+8,block=256', 0): (
        [
            '7269d0d8a561bca0df8d45d8bd9267bbfd6c087a3c5f7c73ecc6212a43a13da2',
            '6637b87ef6aff8906654c8e96df3ca68fff56ccad5083c4b8a8d398a815fa787',
            '960d55ff951991bf138ede2927e8520c3a1666b1eee8aec3b4368908ab21e8b1',
        ],
        [
            '182449f8f6b8a32866a5dea4d1aff1ac09294eb8a6dcb75a5347895ceaa832e0',
            '8348651319cea026370421aa27d0cf6b97260d9de7b3a8a528dab7aa762f0a7a',
            '424342654538570281d0b491b1b8b8fe3d3f83e4f01c32f602ab8e3a1b3373be',
        ],
    ),
    ('uniform:4+4+8,block=100', 0): (
        [
            'dac2d4d52a7cb3b49c774c6addf97a14d3fc59e3a9c0e7a3acc4d0392fab4305',
            '8e2fabbc5a069c6130e3f5a0722c2e35d695d1a11d2098bfc6a7b81e4785cca3',
            '4a81d1fa5cbc5b49b75e7906d554dcf6a31c07e5c12c9f971e7927cc374a57df',
        ],
        [
            'a92d05d5451e0380e7534dfef57c82fbf1d7f93d3332d27f2970b777e7a17bfe',
            'b15e6dbca73f6872a81e33aea6286be44da3cc4ce440c36c0c7aff601ed53b01',
            '141480ec88f6a7cb7849b122f99d917a8da8a84ad89819ffb9c9364baae9a861',
        ],
    ),
    ('uniform:3+5,block=7', 0): (
        [
            'bd0a54f89bf48cb75b1217229354219eafe44727609095455259286f0574e7c4',
            '341ae32664f8a60c117a0ece076f1432e82f9023e59e9090700d0aa75094241b',
        ],
        [
            'a608a5277ffa95ad41e766ace8c5b1340907715107a9ced2e519891453599144',
            '81df5891907ca2ff59cf11facda0be9471966f81a0d87fbe2962e2c8051006e9',
        ],
    ),
    ('uniform:1+1+1+1+4', 0): (
        [
            '1d79d34f07afa98e677b630a262f0488dedc24de5a24cca4df4b63e0e055a2c2',
            'b8a1331483d687e517a6c2e8cb52f995c1b8bd57a7b1c5e112a3c6538a80fb46',
            '1c9b5f40ad98010b88765f45e234e3242eb7e5651fbba26aca323c1c74b71943',
            '3e9381031c86ce17ab86b107079d0c9a2f79b356f441d76df059a421974c39c8',
            'b50c022c3aa64b276af9627743a573dcfbdaa9bb74e2d44a91ec5a8ead83241a',
        ],
        [
            'b27e587810e898e6c53dd30222c0f267f39c76805cef940c3629dddc3a61fc4d',
            'd66803c316342859ebf256d975547f1bbdaa6bcdb3031bd5dfd423440577b797',
            '50fb06b63eb457300ba18367036618b1d8b5d0fbeece76180c306702043686db',
            '98737955349ee0f739f43ae32376281d53d4053c34c2790474635b39c758e63e',
            'edfda70eacffc665eac3e7a50e7dc2fc401aeb3b13c6b9479ddb677f8c82a2a8',
        ],
    ),
    ('uniform:5+6+5', 0): (
        [
            'b1566fb3f68bf63ce7143edb66951b65a6eec29b934ce4308a254b726af953fe',
            '706f661d41ae7eb1d18c6dcf228ecdb2b2c5e8874a145956c78283548b3ba382',
            'fb46c4f5090585b827634c4ab514c18ae14c0e33efd74ce75a4109e28e1b2bf8',
        ],
        [
            'aca3399f2b4afea1dceba55eb48536c1389321f89e1b883cf18b5af1a579a449',
            'e1a7de568d77240b7ea337f63471c22c588b0e925bd50a6dfe0e75e23bac6373',
            'c3fb4df77785d7a4fc5019c271b53637f54fe28064c651659ae450c8e8059c56',
        ],
    ),
    ('uniform:8+8+15', 0): (
        [
            '436b44a0a935b7fa391542e884becd6452cddb6a21f5026de0381e74ed0b6015',
            'aff1974d13a1e9d5c80b138a410abbf253c488c93f98536bc20bdc1380d63a57',
            'a4637e705a68f6df7d6db7757c130f33c01c57c7c3164bce3a825f37cba4a4d8',
        ],
        [
            'b5d6e62485b0dd1e1679401c5f02bb0b1334d9223631c33911b0c709c8431115',
            '6ae0dd026e72599946cacb667accdd27ed3267990b646c3cab85f3518ca8cb1d',
            '539187adf5aa258d1d9e825c95542098d0554cd4f8a7f0b4268fff8b53586f04',
        ],
    ),
    ('uniform:16+15,block=1', 0): (
        [
            '1cfdcc35066724d384faafc2b6d8ab2ace82dd58361beb8134f4ef2cae282eab',
            '2562246242f87ca05e9241a6868d4a36be4d4c00406b54be26a24daed5fa76bf',
        ],
        [
            '372061d50431d862ab8acc76cddcbd7ad019de84c3b2564b294da27984765136',
            'eb06e9ef52b9e0266fb575987bab529233246676fd307be44bbee23d47998d80',
        ],
    ),
    ('uniform:12+4,block=262145', 0): (
        [
            'ff641b1de4ec40d336bd2117f88e53847452e007dcc28eeb7ce13e50b1674974',
            'd7164efeffa60d206307e776cf3299becd1d8ca117d923e179ecbbf1d2ef59cf',
        ],
        [
            '3c5dcf4e0df580412d4d3f0e3ac005f7082c2eaac9c2e1d15287262a20a798bf',
            'eaf671bcae6f976d734b19bc9143585bcb323fdcc215e98709152ef3e6406add',
        ],
    ),
    ('uniform:31', 0): (
        [
            'c8ff451328a6d192144c03cb6fa807ce16915cf42bce283a728f529cc444ba26',
        ],
        [
            '539187adf5aa258d1d9e825c95542098d0554cd4f8a7f0b4268fff8b53586f04',
        ],
    ),
    ('uniform:8,rounding=stochastic', 0): (
        [
            'b4555b94f8bd28db3d8fea81380127863d92d8781fbe6c4e9bf77e03da045576',
        ],
        [
            '2b57316df5fc4e084ae53d7d6c52c870b409ecb74c275426836cefe0df8b574b',
        ],
    ),
    ('uniform:2+2+4,block=256,rounding=stochastic', 0): (
        [
            '6196854f7dd7b11308fff9dd6f034b4fba777f105826eb313e44a0dacf72c3fd',
            '9dd5756dc44fbe66a312c855f3285f5a50e338f1807892ab43f398b1d6930c64',
            'f8ddf9c15893d6ae2e65444631f23158ecdb648c392404ad5f8d61d34888d0fc',
        ],
        [
            '699421438a6bff47d4d677d0a42ea207ae462c4a78871a02f1a4b87dfccdb9de',
            '7f6eb4971087c733b9ce0b69b3cb667c3b23c71a015d0d66d86f07b7f54995cd',
            '5649f4466ce3614da516e554a4afb76f96f4547dcd8949d245ada5f786e323e4',
        ],
    ),
    ('uniform:2+2+4,block=256,rounding=stochastic', 5): (
        [
            'edfbe2b9d4345bb3a2353074c37d415cb3d32bc2b34842f07597a13ad76392f3',
            '8c6d478b11576f17f94660f4990cd7e63b6fd65304d516a6cede8fce8bc0dc91',
            '77054af7e0d569ee8ae1c18d175ebc735b9084a8026ff0548d635d05e473b770',
        ],
        [
            '0fcd0d2c2d2ca4ed36609c2ab2ffb401c98d429c474a2a8f54541c223613cebd',
            'a4ec4703ec81b19446e0e0d18b73c7e2cf0e5afde7103810112c79a588ddfebf',
            '6e88ef167a9e846b5448090ae5d4efde4b6591e2cdb21b2a8ab840bb5f5dd8c5',
        ],
    ),
    ('uniform:2+2+4,block=256,rounding=stochastic,reconstruction=truncate', 3): (
        [
            '073233be4dd823b57d853a8cc07a6befc03349d6f22988d6576efda2f95409d6',
            '6f376cfe8ccf0c4b0ee238199fab372415ed00aeb421d8501b6b5975718f290e',
            'f3fd00a4f8d7575175fc7b306fdee3668883b6bb95d5b5eb62df2e87e9f6efcd',
        ],
        [
            '10a7050bfe2ce4c4893628df8614276b986a7ad869e7a72e9f876c9d02712724',
            '4c9a924aefc91bba9b11188c14b39e566e763979e7c9dfea7575a9c25aa650f4',
            '227fb710f0413c347acc8b566c6b8ee81538ccc5b967d7aaf16ee68326198dc8',
        ],
    ),
    ('uniform:16+15,rounding=stochastic', 1): (
        [
            '3a5b12afd6ad5f3389cbcfb15c30007b5a375f102c9d427bc5d5eb7807935839',
            'accd683deabc7392e0a1c1c6ba0cabd00087e19f150c820bad358d64aaeafe99',
        ],
        [
            'a72905433f9541de7683205a99a0cad59bc85bc33ad878f437b0650afd642e71',
            'bdd6713ee535b9eea43514686729c0af9bd9fa8c9c6dc2405a8012d7ab2ceac5',
        ],
    ),
    ('uniform:3+7,block=1000,rounding=stochastic', 2): (
        [
            '2d25fa064e8000ee010a7495a5fdd396bbb6c0aaae816be120ddb7395f60c830',
            '134ca74e14ed6014abb734c477d4f88336eb1d71a67118f4d6f5e1fb3c7f6ae5',
        ],
        [
            'aebb6eb25e7257c53c094e7786e0dd0eea14ce073a69361cf7427b2b2cf03b0c',
            'e7fc301bd90d40bbfa78b4ce5464667fac73a5b810c5aadd17df033fc033d147',
        ],
    ),
}

# Pinned when ``reconstruction=deadzone`` was added (the option did not exist at 0216da0).
GOLDEN.update({
    ('uniform:2+2+4,block=256,reconstruction=deadzone', 0): (
        [
            'cfeec3d3b4ad137d704cedd836a80a61611745dc68efa7d9d888e3bd7a26e353',
            '95f56acd63238de72eb2a532d7984dcd8e4abb922d412f5e26aac23a5f06bdca',
            '81610a1400523cb94251b29747818439fbac5932ea6ffca4cdf343cb5260118e',
        ],
        [
            'f9e0b8c46dc0cc751c6df1adffe4a3d0b8e526c950155c599561544fde8fabd5',
            '8ee1da90a792c44891644f70d5e8b647be661ac63a07f76bcea1e36ee3adffd5',
            '38c5acd53996c7bb5632b0ba339d9e44ba10cb80d5e23528dfbd78642745901b',
        ],
    ),
    ('uniform:2+2+4,block=256,rounding=stochastic,reconstruction=deadzone', 4): (
        [
            '390d17901a579f1e8d83058d5f09ddec8240c52730956827567c68f3347ac226',
            'ef602c489be592b10d4ac9014f3e22673f98ef49158451316603acbe7bd3fb5f',
            '0bb3dc13fcfbce0a1750679671efa260e032dfc1c2cb8de04e6a0f55d1a0afcd',
        ],
        [
            'f338d9969d44f730c8c9df974930fd4f0dc2ca730d5c1432d79dd57b1a80ec72',
            'b1ae4f21dab0eff395eaf8bc00c57af6542deaf05ff839065e9ceb8bc100b533',
            'fb30d25927d8af05e37196f87bde3dd1fadb109472422f5314e565088ba92b8e',
        ],
    ),
    ('uniform:5+6+20,reconstruction=deadzone', 0): (
        [
            'ccf1a012453a8b741cb5ee0d4811ed097ecc2eed325375309f166cb4bf41021c',
            'aa648f1486efe95ca3d7e4cbbd7f5f3cc3fc8876c35a2f4bc6ebe3d0eb07c9d6',
            '1a2ef57435d210534d81a9242b8eb49b4319bd9c828c3dcca60033f989c43963',
        ],
        [
            'db8068bbddabc7ef640cb35f9743e6395daa936772971ed2c18d3cb6065826fb',
            '5c2346d818864ec36cfa0e38bd0fa8b0c9940cd14702fdaf3efef12440f59b3a',
            '59f6b4808b6eb0f12dc590ec5701731574d6d729bcb03a9f47330083ef029fd5',
        ],
    ),
})


def digest_of_state(state) -> str:
    h = hashlib.sha256()
    for name, tensor in state.items():
        h.update(name.encode() + str(tensor.dtype).encode() + str(tuple(tensor.shape)).encode())
        h.update((tensor.float() if tensor.dtype is torch.bfloat16 else tensor).numpy().tobytes())
    return h.hexdigest()


def digests(spec: str, seed: int):
    state = golden_state()
    tiers = encode_tiers(state, spec, seed=seed)
    assert [len(t) for t in tiers] == tier_sizes(spec, state)
    payload = [hashlib.sha256(t).hexdigest() for t in tiers]
    decoded = [digest_of_state(decode_tiers(tiers[: j + 1])) for j in range(len(tiers))]
    return payload, decoded


@pytest.mark.parametrize("spec, seed", sorted(GOLDEN))
def test_wire_bytes_and_decodings_are_unchanged(spec, seed):
    payload, decoded = digests(spec, seed)
    assert payload == GOLDEN[spec, seed][0], "payload bytes changed"
    assert decoded == GOLDEN[spec, seed][1], "decoded values changed"
