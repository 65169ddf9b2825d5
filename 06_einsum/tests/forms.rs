//! Every form einsum supports, on random data, against the same sum written out as loops.

use matmul_data::synthetic::{SplitMix64, mnist_like, weights};
use matmul_data::test_near;
use matmul_einsum::einsum;
use ndarray::{Array, ArrayD, ArrayViewD, IxDyn, arr0};

/// Uniform values in `[-1, 1)` of the given shape, reproducible from `seed`.
fn random(shape: &[usize], seed: u64) -> ArrayD<f32> {
    let mut rng = SplitMix64::new(seed);
    ArrayD::from_shape_simple_fn(IxDyn(shape), || (2.0 * rng.next_f64() - 1.0) as f32)
}

fn run(spec: &str, operands: &[&ArrayD<f32>]) -> ArrayD<f32> {
    let views: Vec<ArrayViewD<'_, f32>> = operands.iter().map(|o| o.view()).collect();
    einsum(spec, &views).unwrap_or_else(|error| panic!("{spec}: {error}"))
}

#[test]
fn matmul_on_mnist_shapes() {
    let a = mnist_like(5, 1).into_dyn();
    let b = weights(784, 10, 2).into_dyn();
    let mut expected = ArrayD::<f64>::zeros(IxDyn(&[5, 10]));
    for i in 0..5 {
        for j in 0..10 {
            for k in 0..784 {
                expected[[i, j]] += f64::from(a[[i, k]]) * f64::from(b[[k, j]]);
            }
        }
    }
    test_near(&run("ik,kj->ij", &[&a, &b]), &expected);
    test_near(&run("ik,kj", &[&a, &b]), &expected); // implicit: k is summed, i and j remain
}

#[test]
fn batch_matmul() {
    let (batches, m, k, n) = (3, 5, 7, 4);
    let a = random(&[batches, m, k], 3);
    let b = random(&[batches, k, n], 4);
    let mut expected = ArrayD::<f32>::zeros(IxDyn(&[batches, m, n]));
    for batch in 0..batches {
        for i in 0..m {
            for j in 0..n {
                for p in 0..k {
                    expected[[batch, i, j]] += a[[batch, i, p]] * b[[batch, p, j]];
                }
            }
        }
    }
    test_near(&run("bik,bkj->bij", &[&a, &b]), &expected);
    // The batch label need not come first, nor the output keep the operands' order.
    let mut transposed = ArrayD::<f32>::zeros(IxDyn(&[n, batches, m]));
    for batch in 0..batches {
        for i in 0..m {
            for j in 0..n {
                transposed[[j, batch, i]] = expected[[batch, i, j]];
            }
        }
    }
    test_near(&run("bik,bkj->jbi", &[&a, &b]), &transposed);
}

#[test]
fn trace_and_diagonal() {
    let m = random(&[4, 4], 5);
    let trace: f32 = (0..4).map(|i| m[[i, i]]).sum();
    test_near(&run("ii->", &[&m]), &arr0(trace).into_dyn());
    test_near(&run("ii", &[&m]), &arr0(trace).into_dyn());
    let diagonal = Array::from_shape_fn(4, |i| m[[i, i]]).into_dyn();
    test_near(&run("ii->i", &[&m]), &diagonal);
}

#[test]
fn repeated_labels_with_other_dimensions() {
    let t = random(&[3, 3, 5], 6);
    // iij->ij: the diagonal of the first two axes, for every j.
    let expected = Array::from_shape_fn((3, 5), |(i, j)| t[[i, i, j]]).into_dyn();
    test_near(&run("iij->ij", &[&t]), &expected);
    // iij->j: summed along that diagonal.
    let expected = Array::from_shape_fn(5, |j| (0..3).map(|i| t[[i, i, j]]).sum::<f32>());
    test_near(&run("iij->j", &[&t]), &expected.into_dyn());
    // A label three times: iii->i.
    let cube = random(&[3, 3, 3], 7);
    let expected = Array::from_shape_fn(3, |i| cube[[i, i, i]]).into_dyn();
    test_near(&run("iii->i", &[&cube]), &expected);
    // A diagonal inside a contraction: iij,jk->ik.
    let b = random(&[5, 2], 8);
    let expected = Array::from_shape_fn((3, 2), |(i, k)| {
        (0..5).map(|j| t[[i, i, j]] * b[[j, k]]).sum::<f32>()
    });
    test_near(&run("iij,jk->ik", &[&t, &b]), &expected.into_dyn());
}

#[test]
fn transposes() {
    let m = random(&[3, 5], 9);
    let expected = Array::from_shape_fn((5, 3), |(j, i)| m[[i, j]]).into_dyn();
    test_near(&run("ij->ji", &[&m]), &expected);
    // Implicit output is alphabetical: "ba" means "ba->ab", a transpose; "ab" is the identity.
    test_near(&run("ba", &[&m]), &expected);
    test_near(&run("ab", &[&m]), &m);
    let t = random(&[2, 3, 4], 10);
    let expected = Array::from_shape_fn((4, 2, 3), |(k, i, j)| t[[i, j, k]]).into_dyn();
    test_near(&run("ijk->kij", &[&t]), &expected);
}

#[test]
fn outer_products() {
    let x = random(&[3], 11);
    let y = random(&[4], 12);
    let expected = Array::from_shape_fn((3, 4), |(i, j)| x[[i]] * y[[j]]).into_dyn();
    test_near(&run("i,j->ij", &[&x, &y]), &expected);
    test_near(&run("i,j", &[&x, &y]), &expected);
    let transposed = expected.t().to_owned();
    test_near(&run("i,j->ji", &[&x, &y]), &transposed);
}

#[test]
fn one_operand_sums() {
    let m = random(&[3, 4], 13);
    test_near(&run("ij->", &[&m]), &arr0(m.sum()).into_dyn());
    let columns = Array::from_shape_fn(4, |j| (0..3).map(|i| m[[i, j]]).sum::<f32>());
    test_near(&run("ij->j", &[&m]), &columns.into_dyn());
    let rows = Array::from_shape_fn(3, |i| (0..4).map(|j| m[[i, j]]).sum::<f32>());
    test_near(&run("ij->i", &[&m]), &rows.into_dyn());
    // "i" alone is the operand unchanged, as the lesson's quote says.
    let v = random(&[5], 14);
    test_near(&run("i", &[&v]), &v);
}

#[test]
fn implicit_outputs() {
    let a = random(&[2, 3], 15);
    let b = random(&[3, 4], 16);
    let expected = Array::from_shape_fn((2, 4), |(i, k)| {
        (0..3).map(|j| a[[i, j]] * b[[j, k]]).sum::<f32>()
    });
    test_near(&run("ij,jk", &[&a, &b]), &expected.into_dyn());
    // "jk,ij": the output is still ik (alphabetical), not ki.
    test_near(
        &run("jk,ij", &[&b, &a]),
        &Array::from_shape_fn((2, 4), |(i, k)| {
            (0..3).map(|j| a[[i, j]] * b[[j, k]]).sum::<f32>()
        })
        .into_dyn(),
    );
    // Upper case sorts before lower case (character-code order, as NumPy): "aB" gives "Ba".
    let expected = a.t().to_owned();
    test_near(&run("aB", &[&a]), &expected);
}

#[test]
fn ellipsis_broadcasts_leading_dimensions() {
    // (2, 1) stack of (3, 4) matrices times a (5,) stack of (4, 2): broadcast stack (2, 5).
    let a = random(&[2, 1, 3, 4], 17);
    let b = random(&[5, 4, 2], 18);
    let mut expected = ArrayD::<f32>::zeros(IxDyn(&[2, 5, 3, 2]));
    for s in 0..2 {
        for t in 0..5 {
            for i in 0..3 {
                for k in 0..2 {
                    for j in 0..4 {
                        expected[[s, t, i, k]] += a[[s, 0, i, j]] * b[[t, j, k]];
                    }
                }
            }
        }
    }
    test_near(&run("...ij,...jk->...ik", &[&a, &b]), &expected);
    test_near(&run("...ij,...jk", &[&a, &b]), &expected);
    // An ellipsis covering nothing is allowed.
    let m = random(&[3, 4], 19);
    let n = random(&[4, 2], 20);
    let product = Array::from_shape_fn((3, 2), |(i, k)| {
        (0..4).map(|j| m[[i, j]] * n[[j, k]]).sum::<f32>()
    });
    test_near(&run("...ij,...jk->...ik", &[&m, &n]), &product.into_dyn());
    // The ellipsis may sit anywhere in the subscripts; the output may move it.
    let t = random(&[2, 3, 4], 21);
    let expected = Array::from_shape_fn((4, 3, 2), |(k, j, i)| t[[i, j, k]]).into_dyn();
    test_near(&run("i...k->k...i", &[&t]), &expected);
    // Broadcast dimensions of size 1 on both sides: (3, 1) with (1, 4) gives (3, 4).
    let x = random(&[3, 1, 2], 22);
    let y = random(&[1, 4, 2], 23);
    let expected = Array::from_shape_fn((3, 4), |(s, t)| {
        (0..2).map(|i| x[[s, 0, i]] * y[[0, t, i]]).sum::<f32>()
    });
    test_near(&run("...i,...i->...", &[&x, &y]), &expected.into_dyn());
}

#[test]
fn labels_of_size_one_broadcast_as_in_numpy() {
    let x = random(&[1], 24);
    let y = random(&[4], 25);
    let expected = Array::from_shape_fn(4, |i| x[[0]] * y[[i]]).into_dyn();
    test_near(&run("i,i->i", &[&x, &y]), &expected);
    // A contracted label of size 1 on one side: Σ_j a[i, 0] · b[j, k].
    let a = random(&[2, 1], 26);
    let b = random(&[3, 4], 27);
    let expected = Array::from_shape_fn((2, 4), |(i, k)| {
        (0..3).map(|j| a[[i, 0]] * b[[j, k]]).sum::<f32>()
    });
    test_near(&run("ij,jk->ik", &[&a, &b]), &expected.into_dyn());
}

#[test]
fn three_and_more_operands() {
    let a = random(&[2, 3], 28);
    let b = random(&[3, 4], 29);
    let c = random(&[4, 5], 30);
    let mut expected = ArrayD::<f32>::zeros(IxDyn(&[2, 5]));
    for i in 0..2 {
        for l in 0..5 {
            for j in 0..3 {
                for k in 0..4 {
                    expected[[i, l]] += a[[i, j]] * b[[j, k]] * c[[k, l]];
                }
            }
        }
    }
    test_near(&run("ij,jk,kl->il", &[&a, &b, &c]), &expected);
    test_near(&run("ij,jk,kl", &[&a, &b, &c]), &expected);
    // A label shared by all three is kept until the last contraction.
    let x = random(&[4], 31);
    let y = random(&[4], 32);
    let z = random(&[4], 33);
    let triple: f32 = (0..4).map(|i| x[[i]] * y[[i]] * z[[i]]).sum();
    test_near(&run("i,i,i->", &[&x, &y, &z]), &arr0(triple).into_dyn());
    // Four operands, including a bilinear form v^T M w.
    let m = random(&[3, 3], 34);
    let v = random(&[3], 35);
    let w = random(&[3], 36);
    let form: f32 = (0..3)
        .flat_map(|i| (0..3).map(move |j| (i, j)))
        .map(|(i, j)| v[[i]] * m[[i, j]] * w[[j]])
        .sum();
    test_near(&run("i,ij,j->", &[&v, &m, &w]), &arr0(form).into_dyn());
    let s = random(&[2], 37);
    let expected = Array::from_shape_fn(2, |p| form * s[[p]]).into_dyn();
    test_near(&run("i,ij,j,p->p", &[&v, &m, &w, &s]), &expected);
}

#[test]
fn scalars() {
    let x = arr0(3.0f32).into_dyn();
    let y = arr0(-2.0f32).into_dyn();
    assert_eq!(run(",->", &[&x, &y]), arr0(-6.0).into_dyn());
    assert_eq!(run(",", &[&x, &y]), arr0(-6.0).into_dyn());
    assert_eq!(run("", &[&x]), x);
    assert_eq!(run("->", &[&x]), x);
    let v = random(&[4], 38);
    test_near(&run("i,->i", &[&v, &x]), &v.mapv(|e| 3.0 * e));
    test_near(&run(",i->i", &[&x, &v]), &v.mapv(|e| 3.0 * e));
    // The inner product of the quote: np.einsum('i,i', a, b) is np.inner(a, b).
    let w = random(&[4], 39);
    let inner: f32 = (0..4).map(|i| v[[i]] * w[[i]]).sum();
    test_near(&run("i,i->", &[&v, &w]), &arr0(inner).into_dyn());
    test_near(&run("i,i", &[&v, &w]), &arr0(inner).into_dyn());
}

#[test]
fn zero_sized_dimensions() {
    let a = ArrayD::<f32>::zeros(IxDyn(&[3, 0]));
    let b = ArrayD::<f32>::zeros(IxDyn(&[0, 4]));
    assert_eq!(run("ik,kj->ij", &[&a, &b]), ArrayD::zeros(IxDyn(&[3, 4])));
    assert_eq!(run("ij->", &[&a]), arr0(0.0).into_dyn());
    assert_eq!(run("ij->j", &[&a]).shape(), &[0]);
    let empty = ArrayD::<f32>::zeros(IxDyn(&[0, 0]));
    assert_eq!(run("ii->i", &[&empty]).shape(), &[0]);
    let c = ArrayD::<f32>::zeros(IxDyn(&[0, 3, 2]));
    let d = ArrayD::<f32>::zeros(IxDyn(&[0, 2, 5]));
    assert_eq!(run("bik,bkj->bij", &[&c, &d]).shape(), &[0, 3, 5]);
}

#[test]
fn whitespace_is_ignored() {
    let a = random(&[2, 3], 40);
    let b = random(&[3, 4], 41);
    test_near(
        &run(" i k ,\tk j -> i j ", &[&a, &b]),
        &run("ik,kj->ij", &[&a, &b]),
    );
}

#[test]
fn batched_dot_products_and_elementwise_products() {
    let a = random(&[6, 5], 42);
    let b = random(&[6, 5], 43);
    let dots = Array::from_shape_fn(6, |r| (0..5).map(|c| a[[r, c]] * b[[r, c]]).sum::<f32>());
    test_near(&run("bi,bi->b", &[&a, &b]), &dots.into_dyn());
    let products = Array::from_shape_fn((6, 5), |(r, c)| a[[r, c]] * b[[r, c]]).into_dyn();
    test_near(&run("ij,ij->ij", &[&a, &b]), &products);
    let frobenius: f32 = products.sum();
    test_near(&run("ij,ij->", &[&a, &b]), &arr0(frobenius).into_dyn());
}
